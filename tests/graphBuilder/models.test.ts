import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  buildInferenceModel,
  buildMcModel,
  presetConfig,
  validateConfig,
} from '../../src/graphBuilder/models.js';
import { serialize } from '../../src/graphBuilder/serialize.js';
import { flatLayout } from '../../src/graphBuilder/graph.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('determinism', () => {
  it('the same config serializes to the same bytes', () => {
    for (const norm of ['none', 'batch', 'group'] as const) {
      const c = presetConfig('tiny', { unet: { norm } });
      expect(sha(serialize(buildInferenceModel(c)))).toBe(
        sha(serialize(buildInferenceModel(presetConfig('tiny', { unet: { norm } })))),
      );
      expect(sha(serialize(buildMcModel(c)))).toBe(sha(serialize(buildMcModel(c))));
    }
  });

  it('another seed gives other weights', () => {
    const a = serialize(buildInferenceModel(presetConfig('tiny', { unet: { seed: 1 } })));
    const b = serialize(buildInferenceModel(presetConfig('tiny', { unet: { seed: 2 } })));
    expect(sha(a)).not.toBe(sha(b));
  });

  it('inference and MC models share every parameter, name and value', () => {
    const c = presetConfig('tiny');
    const params = (g: ReturnType<typeof buildInferenceModel>) =>
      g.initializers.filter((i) => i.trainable).map((i) => [i.name, sha(new Uint8Array(i.constant.data.buffer))]);
    expect(params(buildMcModel(c))).toEqual(params(buildInferenceModel(c)));
  });
});

describe('building with given weights', () => {
  it('puts the weights into the initializers in layout order, and refuses a wrong count', () => {
    const c = presetConfig('tiny');
    const { values } = flatLayout(buildInferenceModel(c));
    const trained = values.map((v, i) => v + i * 1e-3);
    for (const g of [buildInferenceModel(c, { weights: trained }), buildMcModel(c, { weights: trained })]) {
      expect(flatLayout(g).values).toEqual(trained);
    }
    expect(() => buildInferenceModel(c, { weights: trained.subarray(1) })).toThrow(/needs \d+ more values/);
    expect(() => buildInferenceModel(c, { weights: Float32Array.of(...trained, 0) })).toThrow(
      /weights given, the network has/,
    );
  });
});

describe('U-Net', () => {
  it('has the paper architecture sizes: 31,031,745 parameters at base 64, depth 4', () => {
    const g = buildInferenceModel(presetConfig('paper', { imageSize: 32 }));
    const count = g.initializers.filter((i) => i.trainable).reduce((n, i) => n + i.constant.data.length, 0);
    // By hand, conv k×k cin→cout = cout·cin·k² + cout: encoder 4,685,376 + bottleneck 14,157,824
    // + decoder (2x2 up-convs and double convs) 12,188,480 + 1x1 head 65.
    expect(count).toBe(31_031_745);
  });

  it('initializes weights He-normal: std ≈ sqrt(2 / fan_in)', () => {
    const g = buildInferenceModel(presetConfig('small'));
    const w = g.initializers.find((i) => i.name === 'up0.conv1.weight')!;
    const fanIn = w.shape[1]! * 9;
    const d = w.constant.data as Float32Array;
    const mean = d.reduce((a, b) => a + b, 0) / d.length;
    const std = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / d.length);
    expect(Math.abs(std / Math.sqrt(2 / fanIn) - 1)).toBeLessThan(0.03);
    expect(Math.abs(mean)).toBeLessThan(0.01);
  });

  it('places Dropout where the config says, never in the inference model', () => {
    const count = (bottleneck: boolean, decoder: boolean) =>
      buildMcModel(presetConfig('tiny', { unet: { dropout: { bottleneck, decoder, p: 0.5 } } })).nodes.filter(
        (n) => n.op === 'Dropout',
      ).length;
    expect(count(true, false)).toBe(1);
    expect(count(false, true)).toBe(2);
    expect(count(true, true)).toBe(3);
    expect(buildInferenceModel(presetConfig('tiny')).nodes.some((n) => n.op === 'Dropout')).toBe(false);
  });
});

describe('impossible configurations', () => {
  it.each([
    [
      'size',
      presetConfig('tiny', { imageSize: 30 }),
      /invalid size: 30 \(valid: a positive multiple of 2\^depth = 4\)/,
    ],
    ['base', presetConfig('tiny', { unet: { base: 0 } }), /invalid base: 0/],
    ['depth', presetConfig('tiny', { unet: { depth: 0 } }), /invalid depth/],
    [
      'dropout-p',
      presetConfig('tiny', { unet: { dropout: { bottleneck: true, decoder: true, p: 1 } } }),
      /invalid dropout-p: 1 \(valid: a number in \[0, 1\)\)/,
    ],
    [
      'dropout-p',
      presetConfig('tiny', { unet: { dropout: { bottleneck: true, decoder: true, p: -0.1 } } }),
      /invalid dropout-p/,
    ],
    [
      'groups',
      presetConfig('tiny', { unet: { norm: 'group', groups: 3 } }),
      /invalid groups: 3 \(valid: a positive divisor of base = 4\)/,
    ],
    ['batch', presetConfig('tiny', { batch: 0 }), /invalid batch/],
  ])('%s', (option, config, message) => {
    expect(() => validateConfig(config)).toThrow(message);
    try {
      validateConfig(config);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).option).toBe(option);
    }
  });

  it('unknown preset', () => {
    expect(() => presetConfig('huge' as 'tiny')).toThrow(
      /invalid preset: "huge" \(valid: one of tiny, study, small, paper\)/,
    );
  });
});
