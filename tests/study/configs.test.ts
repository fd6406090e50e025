import { describe, expect, it } from 'vitest';
import {
  CONFIG_NAMES,
  MAIN_CONFIG_NAMES,
  chooseFixedEps,
  configFlags,
  getConfig,
  parseConfigList,
  selectedValDice,
} from '../../src/study/configs.js';

describe('study configurations', () => {
  it('names the six configurations of the issue and their train flags', () => {
    expect(MAIN_CONFIG_NAMES).toEqual([
      'bce',
      'dice',
      'polydice1-e0',
      'polydice1-fixed',
      'adaptive-up',
      'adaptive-down',
    ]);
    // Follow-ups are selectable by name but not part of --configs all.
    expect(CONFIG_NAMES).toEqual([...MAIN_CONFIG_NAMES, 'adaptive-up-0.25', 'adaptive-down-0.25']);
    expect(getConfig('adaptive-up-0.25').flags).toContain('linear:0,0.25:up');
    expect(configFlags(getConfig('bce'))).toEqual(['--loss', 'bce']);
    expect(configFlags(getConfig('dice'))).toEqual(['--loss', 'dice']);
    expect(configFlags(getConfig('polydice1-e0'))).toEqual(['--loss', 'polydice1', '--eps', '0']);
    expect(configFlags(getConfig('polydice1-fixed'), 0.5)).toEqual(['--loss', 'polydice1', '--eps', '0.5']);
    expect(configFlags(getConfig('adaptive-up'))).toEqual([
      '--loss',
      'polydice1',
      '--adaptive',
      '--eps-map',
      'linear:0,1:up',
    ]);
    expect(configFlags(getConfig('adaptive-down'))).toEqual([
      '--loss',
      'polydice1',
      '--adaptive',
      '--eps-map',
      'linear:0,1:down',
    ]);
    expect(() => configFlags(getConfig('polydice1-fixed'))).toThrow(/needs its ε/);
  });

  it('parses --configs lists', () => {
    expect(parseConfigList('dice, adaptive-up').map((c) => c.name)).toEqual(['dice', 'adaptive-up']);
    expect(() => parseConfigList('dice,focal')).toThrow(/unknown configuration "focal"/);
    expect(() => parseConfigList('dice,dice')).toThrow(/twice/);
  });

  it('selectedValDice reads the validation Dice of the last best epoch', () => {
    const lines = [
      { epoch: 1, valLoss: 0.9, valDice: 0.1, best: true },
      { epoch: 2, valLoss: 0.5, valDice: 0.6, best: true },
      { epoch: 3, valLoss: 0.6, valDice: 0.7, best: false },
    ];
    expect(selectedValDice(`${lines.map((l) => JSON.stringify(l)).join('\n')}\n`)).toBe(0.6);
    expect(() => selectedValDice('')).toThrow(/no epoch marked best/);
  });

  it('chooseFixedEps picks the highest mean validation Dice; ties go to ε nearest 0', () => {
    const byEps = new Map([
      [0, [0.8, 0.7]],
      [0.5, [0.9, 0.72]],
      [1, [0.6, 0.9]],
    ]);
    const c = chooseFixedEps([0, 0.5, 1], byEps);
    expect(c.eps).toBe(0.5);
    expect(c.meanValDice.map((r) => r.meanValDice)).toEqual([0.75, 0.81, 0.75]);
    const tie = chooseFixedEps(
      [1, -0.25, 0.5],
      new Map([
        [1, [0.5]],
        [-0.25, [0.5]],
        [0.5, [0.5]],
      ]),
    );
    expect(tie.eps).toBe(-0.25);
    expect(() => chooseFixedEps([0, 1], new Map([[0, [0.5]]]))).toThrow(/no validation Dice for ε = 1/);
    expect(() =>
      chooseFixedEps(
        [0, 1],
        new Map([
          [0, [0.5]],
          [1, [0.5, 0.6]],
        ]),
      ),
    ).toThrow(/different numbers of folds/);
  });
});
