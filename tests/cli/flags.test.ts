/**
 * Typed flags (src/cli/cli.ts): each flag's parser gives its value, a flag not given keeps its typed
 * default as it is, parser errors are usage errors naming the flag, and --help shows every flag with
 * its default.
 */
import { describe, expect, it } from 'vitest';
import { UsageError, asNumber, asText, helpText, integerFrom, oneOf, orWord, readFlags } from '../../src/cli/cli.js';
import { parseLoss } from '../../src/graphBuilder/losses.js';
import { parseEpsPolicy } from '../../src/uncertainty/epsilon.js';

const FLAGS = {
  epochs: { help: 'epochs per fold', parse: integerFrom(1), default: undefined, defaultHelp: '200 (GPU), 30 (CPU)' },
  lr: { help: 'learning rate', parse: asNumber, default: 0.001 },
  loss: { help: 'the loss', parse: parseLoss, default: parseLoss('polydice1'), defaultHelp: 'polydice1' },
  'eps-map': { help: 'difficulty → ε_1', parse: parseEpsPolicy, default: undefined },
  split: { help: 'random or sequence', parse: oneOf(['random', 'sequence']), default: 'random' },
  limit: { help: 'first N images', parse: orWord('all', null, integerFrom(1)), default: null, defaultHelp: 'all' },
  out: { help: 'run folder', parse: asText, default: '' },
  adaptive: { help: 'the method', switch: true },
} as const;

const read = (...argv: string[]) => readFlags('train', 'Trains.', FLAGS, argv);

describe('readFlags', () => {
  it('gives parsed values, typed defaults for flags not given, and the names of the flags given', () => {
    const { values, given } = read('--eps-map', 'rank:0,1:down', '--lr=0.5', '--adaptive', '--limit', 'all');
    expect(values).toEqual({
      epochs: undefined,
      lr: 0.5,
      loss: { polydice1: 1 },
      'eps-map': { kind: 'rank', epsMin: 0, epsMax: 1, direction: 'down' },
      split: 'random',
      limit: null,
      out: '',
      adaptive: true,
    });
    expect(given).toEqual(['lr', 'eps-map', 'limit', 'adaptive']);
    const more = read('--limit', '12', '--epochs', '3', '--loss', 'dice').values;
    expect(more).toMatchObject({ limit: 12, epochs: 3, loss: { dice: 1 } });
  });

  it('takes a negative number as a value in both spellings (the study grid passes --eps -0.25)', () => {
    expect(read('--lr', '-0.25').values.lr).toBe(-0.25);
    expect(read('--lr=-0.25').values.lr).toBe(-0.25);
    expect(read('--lr', '-.5', '--epochs', '2').values).toMatchObject({ lr: -0.5, epochs: 2 });
    expect(read('--out', '-1e-3').values.out).toBe('-1e-3');
    // a value that is not a number still may not start with a dash: it is an option, so the flag lacks its value
    expect(() => read('--out', '--adaptive')).toThrow(UsageError);
  });

  it('turns parser errors into usage errors that name the flag', () => {
    const fails = (argv: string[], message: RegExp): void => {
      let error: unknown;
      try {
        read(...argv);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toMatch(message);
    };
    fails(['--epochs', '0'], /^--epochs must be a positive integer, got "0"$/);
    fails(['--lr', 'fast'], /^--lr must be a number, got "fast"$/);
    fails(['--split', 'video'], /^--split must be one of random, sequence, got "video"$/);
    fails(['--loss', 'focal'], /^--loss must be one of/);
    fails(['--eps-map', 'cubic'], /^--eps-map: unknown kind "cubic"/);
    fails(['--bogus'], /Unknown option '--bogus'[\s\S]*Usage: npm run train/);
  });
});

describe('helpText', () => {
  it('lists every flag with its help and the default (given, or the default value itself)', () => {
    const help = helpText('train', 'Trains.', FLAGS);
    expect(help).toMatch(/^Usage: npm run train -- \[options\]\n\nTrains\.\n\nOptions:\n/);
    const row = (flag: string, text: string): string => `${`  ${flag}`.padEnd(26)} ${text}`;
    const rows = help.split('\n');
    expect(rows).toContain(row('--epochs VALUE', 'epochs per fold (default: 200 (GPU), 30 (CPU))'));
    expect(rows).toContain(row('--lr VALUE', 'learning rate (default: 0.001)'));
    expect(rows).toContain(row('--loss VALUE', 'the loss (default: polydice1)'));
    expect(rows).toContain(row('--eps-map VALUE', 'difficulty → ε_1')); // no default to show
    expect(rows).toContain(row('--out VALUE', 'run folder')); // an empty default is not shown
    expect(rows).toContain(row('--adaptive', 'the method'));
    expect(help).toMatch(/--help +show this help\n\nExit status: 0 done/);
  });

  it('wraps long help texts under their flag', () => {
    const long = { x: { help: 'word '.repeat(40).trim(), parse: asText, default: 'y' } };
    const lines = helpText('c', 's', long)
      .split('\n')
      .filter((l) => l.includes('word'));
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(110);
    for (const l of lines.slice(1)) expect(l.startsWith(' '.repeat(27))).toBe(true);
    expect(lines.at(-1)).toMatch(/\(default: y\)$/);
  });
});
