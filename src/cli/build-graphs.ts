/** npm run build-graphs: write the shipped ONNX graphs for a config, and their text snapshots. */
import { join } from 'node:path';
import { hasTrainingGraphs, shippedGraphs } from '../graphBuilder/artifacts.js';
import { LOSS_PRESETS, parseLoss } from '../graphBuilder/losses.js';
import { type PresetName, DEFAULTS, PRESETS, presetConfig, validateConfig } from '../graphBuilder/models.js';
import { DEFAULT_OPTIMIZER } from '../graphBuilder/optimizers.js';
import { paramLayout } from '../graphBuilder/trainingModels.js';
import { saveCheckpoint } from '../training/checkpoint.js';
import type { NormKind } from '../graphBuilder/layers.js';
import { toText } from '../graphBuilder/printer.js';
import { serialize } from '../graphBuilder/serialize.js';
import { UsageError, numberFlag, parseFlags, progress, runMain, usage, writeFileAtomic } from './cli.js';

runMain(() => {
  const f = parseFlags(
    'build-graphs',
    'Builds the U-Net inference model, the MC-Dropout model (N samples per image in one run) and the training\n' +
      'artifacts (fused train step, training, optimizer and eval models, initial checkpoint) as ONNX files,\n' +
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
      loss: { type: 'string', description: `training loss: ${Object.keys(LOSS_PRESETS).join(', ')}`, default: 'polydice1' },
      optimizer: { type: 'string', description: 'adam or adamw', default: DEFAULT_OPTIMIZER.kind },
      'weight-decay': { type: 'string', description: 'L2 (adam) or decoupled (adamw) weight decay', default: String(DEFAULT_OPTIMIZER.weightDecay) },
      'inference-only': { type: 'boolean', description: 'skip the training artifacts (required with --norm batch)' },
      out: { type: 'string', description: 'folder for the .onnx files', default: 'artifacts/models/<preset>-<size>' },
      snapshots: { type: 'string', description: 'folder for the text snapshots', default: 'graphs/<preset>-<size>' },
    },
  );
  const preset = f.preset as PresetName;
  if (!(preset in PRESETS)) throw new UsageError(`--preset must be one of ${Object.keys(PRESETS).join(', ')}, got "${f.preset}"`);
  const places = f.dropout.split(',').map((s) => s.trim());
  const unknown = places.filter((s) => s !== 'bottleneck' && s !== 'decoder');
  if (unknown.length) throw new UsageError(`--dropout accepts bottleneck and/or decoder, got "${unknown.join(',')}"`);
  if (f.optimizer !== 'adam' && f.optimizer !== 'adamw') throw new UsageError(`--optimizer must be adam or adamw, got "${f.optimizer}"`);
  const config = presetConfig(preset, {
    training: {
      loss: usage(() => parseLoss(f.loss)),
      optimizer: { ...DEFAULT_OPTIMIZER, kind: f.optimizer, weightDecay: numberFlag('weight-decay', f['weight-decay']) },
    },
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
  const training = !f['inference-only'];
  if (training && !hasTrainingGraphs(config)) {
    throw new UsageError(`--norm ${config.unet.norm} has no training graphs yet (batch statistics are not implemented); use --norm none or group, or --inference-only`);
  }
  const tag = `${preset}-${config.imageSize}`;
  const out = f.out.startsWith('artifacts/models/<') ? join('artifacts', 'models', tag) : f.out;
  const snapshots = f.snapshots.startsWith('graphs/<') ? join('graphs', tag) : f.snapshots;
  const graphs = shippedGraphs(config, { training });
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
  let checkpoint: string | undefined;
  if (training) {
    const layout = paramLayout(config);
    const P = layout.values.length;
    checkpoint = join(out, 'checkpoint');
    saveCheckpoint(checkpoint, { step: 0, epoch: 0, config, rng: { seed: config.unet.seed }, layout: layout.slots, params: layout.values, adam: { m: new Float32Array(P), v: new Float32Array(P) } });
    progress(`initial checkpoint: ${P} parameters`);
  }
  process.stdout.write(`${JSON.stringify({ config: join(out, 'config.json'), models: written, checkpoint, snapshots }, null, 2)}\n`);
});
