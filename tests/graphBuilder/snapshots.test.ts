/**
 * Every text snapshot committed under graphs/ is rebuilt from the config recorded in its own header
 * and compared line by line; a difference fails with vitest's diff of the two texts.
 * Regenerate with `npm run build-graphs -- --preset P` after an intended change.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PRESETS, type ModelConfig, shippedGraphs } from '../../src/graphBuilder/models.js';
import { toText } from '../../src/graphBuilder/printer.js';

const root = 'graphs';
const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.txt')).sort();

describe('graph snapshots', () => {
  it('cover every preset, with an inference and an MC-Dropout graph each', () => {
    for (const [preset, p] of Object.entries(PRESETS)) {
      expect(files).toContain(join(`${preset}-${p.imageSize}`, 'unet_inference.txt'));
      expect(files).toContain(join(`${preset}-${p.imageSize}`, 'unet_mc_dropout.txt'));
    }
  });

  it.each(files)('%s matches a fresh build of its config', (file) => {
    const committed = readFileSync(join(root, file), 'utf8');
    const name = /^graph (\S+)/.exec(committed)?.[1];
    const config = /^meta config = (.*)$/m.exec(committed)?.[1];
    expect(name, `${file} has no "graph NAME" header`).toBeTruthy();
    expect(config, `${file} has no "meta config" line`).toBeTruthy();
    const graph = shippedGraphs(JSON.parse(config!) as ModelConfig).find((g) => g.name === name);
    expect(graph, `no shipped graph is called ${name}`).toBeDefined();
    expect(toText(graph!)).toBe(committed);
  });
});
