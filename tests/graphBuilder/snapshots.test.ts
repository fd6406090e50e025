/**
 * Every text snapshot committed under graphs/ is rebuilt from the config recorded in its own header
 * and compared line by line; a difference fails with vitest's diff of the two texts.
 * Regenerate with `npm run build-graphs -- --preset P` after an intended change.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shippedGraphs } from '../../src/graphBuilder/artifacts.js';
import { PRESETS, type ModelConfig } from '../../src/graphBuilder/models.js';
import type { Graph } from '../../src/graphBuilder/graph.js';
import { toText } from '../../src/graphBuilder/printer.js';

const root = 'graphs';
const files = readdirSync(root, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.txt'))
  .sort();

/** One build per config: the paper preset alone takes seconds to initialize 31M weights. */
const built = new Map<string, Graph[]>();
const graphsOf = (config: string): Graph[] => {
  if (!built.has(config)) built.set(config, shippedGraphs(JSON.parse(config) as ModelConfig));
  return built.get(config)!;
};

describe('graph snapshots', () => {
  it('cover every shipped graph of every preset', () => {
    for (const [preset, p] of Object.entries(PRESETS)) {
      for (const g of [
        'unet_inference',
        'unet_mc_dropout',
        'unet_train_step',
        'unet_training',
        'adam_optimizer',
        'unet_eval',
      ]) {
        expect(files).toContain(join(`${preset}-${p.imageSize}`, `${g}.txt`));
      }
    }
  });

  it.each(files)('%s matches a fresh build of its config', (file) => {
    const committed = readFileSync(join(root, file), 'utf8');
    const name = /^graph (\S+)/.exec(committed)?.[1];
    const config = /^meta config = (.*)$/m.exec(committed)?.[1];
    expect(name, `${file} has no "graph NAME" header`).toBeTruthy();
    expect(config, `${file} has no "meta config" line`).toBeTruthy();
    const graph = graphsOf(config!).find((g) => g.name === name);
    expect(graph, `no shipped graph is called ${name}`).toBeDefined();
    expect(toText(graph!)).toBe(committed);
  });
});
