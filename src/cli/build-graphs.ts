/** npm run build-graphs: write the shipped ONNX graphs for a config, and their text snapshots. */
import { join } from 'node:path';
import { type PresetName, DEFAULTS, PRESETS, presetConfig, shippedGraphs, validateConfig } from '../graphBuilder/models.js';
import type { NormKind } from '../graphBuilder/layers.js';
import { toText } from '../graphBuilder/printer.js';
import { serialize } from '../graphBuilder/serialize.js';
import { UsageError, numberFlag, parseFlags, progress, runMain, writeFileAtomic } from './cli.js';

runMain(() => {
  const f = parseFlags(
    'build-graphs',
    'Builds the U-Net inference model and the MC-Dropout model (N samples per image in one run) as ONNX files,\n' +
      'and a text snapshot of each graph (structure, shapes, attributes; no weights).',
    {
      preset: { type: 'string', description: `network size: ${Object.entries(PRESETS).map(([k, p]) => `${k} (base ${p.base}, depth ${p.depth}, ${p.imageSize}²)`).join(', ')}`, default: 'small' },
      size: { type: 'string', description: 'input size in pixels (multiple of 2^depth)', default: "the preset's" },
      batch: { type: 'string', description: 'images per run (graphs have static shapes)', default: String(DEFAULTS.batch) },
      samples: { type: 'string', description: 'MC-Dropout samples per image (N)', default: String(DEFAULTS.samples) },
      dropout: { type: 'string', description: 'dropout placement: bottleneck, decoder or bottleneck,decoder', default: 'bottleneck,decoder' },
      'dropout-p': { type: 'string', description: 'default dropout probability in [0,1), recorded in the MC model; the MC model takes p as an input', default: String(DEFAULTS.p) },
      norm: { type: 'string', description: 'normalization after each conv: none, batch or group', default: DEFAULTS.norm },
      groups: { type: 'string', description: 'groups for --norm group', default: String(DEFAULTS.groups) },
      seed: { type: 'string', description: 'seed of the weight initialization and dropout streams', default: String(DEFAULTS.seed) },
      out: { type: 'string', description: 'folder for the .onnx files', default: 'artifacts/models/<preset>-<size>' },
      snapshots: { type: 'string', description: 'folder for the text snapshots', default: 'graphs/<preset>-<size>' },
    },
  );
  const preset = f.preset as PresetName;
  if (!(preset in PRESETS)) throw new UsageError(`--preset must be one of ${Object.keys(PRESETS).join(', ')}, got "${f.preset}"`);
  const places = f.dropout.split(',').map((s) => s.trim());
  const unknown = places.filter((s) => s !== 'bottleneck' && s !== 'decoder');
  if (unknown.length) throw new UsageError(`--dropout accepts bottleneck and/or decoder, got "${unknown.join(',')}"`);
  const config = presetConfig(preset, {
    imageSize: f.size === "the preset's" ? undefined : numberFlag('size', f.size),
    batch: numberFlag('batch', f.batch),
    samples: numberFlag('samples', f.samples),
    unet: {
      norm: f.norm as NormKind,
      groups: numberFlag('groups', f.groups),
      seed: numberFlag('seed', f.seed),
      dropout: { bottleneck: places.includes('bottleneck'), decoder: places.includes('decoder'), p: numberFlag('dropout-p', f['dropout-p']) },
    },
  });
  validateConfig(config); // before any file is written
  const tag = `${preset}-${config.imageSize}`;
  const out = f.out.startsWith('artifacts/models/<') ? join('artifacts', 'models', tag) : f.out;
  const snapshots = f.snapshots.startsWith('graphs/<') ? join('graphs', tag) : f.snapshots;
  const graphs = shippedGraphs(config);
  const written: Record<string, string> = {};
  for (const g of graphs) {
    const t0 = performance.now();
    const bytes = serialize(g);
    writeFileAtomic(join(out, `${g.name}.onnx`), bytes);
    writeFileAtomic(join(snapshots, `${g.name}.txt`), toText(g));
    written[g.name] = join(out, `${g.name}.onnx`);
    progress(`${g.name}: ${g.nodes.length} nodes, ${(bytes.length / 1e6).toFixed(2)} MB in ${(performance.now() - t0).toFixed(0)} ms`);
  }
  writeFileAtomic(join(out, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify({ config: join(out, 'config.json'), models: written, snapshots }, null, 2)}\n`);
});
