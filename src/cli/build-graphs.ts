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
import { UsageError, asNumber, asText, oneOf, parseFlags, progress, runMain, writeFileAtomic } from './cli.js';

const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
const presetSummary = (k: PresetName): string => {
  const p = PRESETS[k];
  return `${k} (base ${p.base}, depth ${p.depth}, ${p.imageSize}²)`;
};
const NORM_KINDS: readonly NormKind[] = ['none', 'batch', 'group'];

/** --dropout: bottleneck and/or decoder, comma-separated. */
function parseDropoutPlaces(raw: string, flag: string): { bottleneck: boolean; decoder: boolean } {
  const places = raw.split(',').map((s) => s.trim());
  const unknown = places.filter((s) => s !== 'bottleneck' && s !== 'decoder');
  if (unknown.length) throw new UsageError(`--${flag} accepts bottleneck and/or decoder, got "${unknown.join(',')}"`);
  return { bottleneck: places.includes('bottleneck'), decoder: places.includes('decoder') };
}

runMain(() => {
  const f = parseFlags(
    'build-graphs',
    'Builds the U-Net inference model, the MC-Dropout model (N samples per image in one run) and the training\n' +
      'artifacts (fused train step, training, optimizer and eval models, initial checkpoint) as ONNX files,\n' +
      'and a text snapshot of each graph (structure, shapes, attributes; no weights).',
    {
      preset: {
        help: `network size: ${PRESET_NAMES.map(presetSummary).join(', ')}`,
        parse: oneOf(PRESET_NAMES),
        default: 'small',
      },
      size: {
        help: 'input size in pixels (multiple of 2^depth)',
        parse: asNumber,
        default: undefined,
        defaultHelp: "the preset's",
      },
      batch: { help: 'images per run (graphs have static shapes)', parse: asNumber, default: DEFAULTS.batch },
      samples: { help: 'MC-Dropout samples per image (N)', parse: asNumber, default: DEFAULTS.samples },
      dropout: {
        help: 'dropout placement: bottleneck, decoder or bottleneck,decoder',
        parse: parseDropoutPlaces,
        default: { bottleneck: true, decoder: true },
        defaultHelp: 'bottleneck,decoder',
      },
      'dropout-p': {
        help: 'default dropout probability in [0,1), recorded in the MC model; the MC model takes p as an input',
        parse: asNumber,
        default: DEFAULTS.p,
      },
      norm: {
        help: 'normalization after each conv: none, batch or group',
        parse: oneOf(NORM_KINDS),
        default: DEFAULTS.norm,
      },
      groups: { help: 'groups for --norm group', parse: asNumber, default: DEFAULTS.groups },
      seed: { help: 'seed of the weight initialization and dropout streams', parse: asNumber, default: DEFAULTS.seed },
      loss: {
        help: `training loss: ${Object.keys(LOSS_PRESETS).join(', ')}`,
        parse: parseLoss,
        default: parseLoss('polydice1'),
        defaultHelp: 'polydice1',
      },
      optimizer: { help: 'adam or adamw', parse: oneOf(['adam', 'adamw']), default: DEFAULT_OPTIMIZER.kind },
      'weight-decay': {
        help: 'L2 (adam) or decoupled (adamw) weight decay',
        parse: asNumber,
        default: DEFAULT_OPTIMIZER.weightDecay,
      },
      'inference-only': { help: 'skip the training artifacts (required with --norm batch)', switch: true },
      out: {
        help: 'folder for the .onnx files',
        parse: asText,
        default: undefined,
        defaultHelp: 'artifacts/models/<preset>-<size>',
      },
      snapshots: {
        help: 'folder for the text snapshots',
        parse: asText,
        default: undefined,
        defaultHelp: 'graphs/<preset>-<size>',
      },
    },
  );
  const { preset } = f;
  const config = presetConfig(preset, {
    training: { loss: f.loss, optimizer: { ...DEFAULT_OPTIMIZER, kind: f.optimizer, weightDecay: f['weight-decay'] } },
    imageSize: f.size,
    batch: f.batch,
    samples: f.samples,
    unet: { norm: f.norm, groups: f.groups, seed: f.seed, dropout: { ...f.dropout, p: f['dropout-p'] } },
  });
  validateConfig(config); // before any file is written
  const training = !f['inference-only'];
  if (training && !hasTrainingGraphs(config)) {
    throw new UsageError(
      `--norm ${config.unet.norm} has no training graphs yet (batch statistics are not implemented); use --norm none or group, or --inference-only`,
    );
  }
  const tag = `${preset}-${config.imageSize}`;
  const out = f.out ?? join('artifacts', 'models', tag);
  const snapshots = f.snapshots ?? join('graphs', tag);
  const graphs = shippedGraphs(config, { training });
  const written: Record<string, string> = {};
  for (const g of graphs) {
    const t0 = performance.now();
    const bytes = serialize(g);
    writeFileAtomic(join(out, `${g.name}.onnx`), bytes);
    writeFileAtomic(join(snapshots, `${g.name}.txt`), toText(g));
    written[g.name] = join(out, `${g.name}.onnx`);
    progress(
      `${g.name}: ${g.nodes.length} nodes, ${(bytes.length / 1e6).toFixed(2)} MB in ${(performance.now() - t0).toFixed(0)} ms`,
    );
  }
  writeFileAtomic(join(out, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  let checkpoint: string | undefined;
  if (training) {
    const layout = paramLayout(config);
    const P = layout.values.length;
    checkpoint = join(out, 'checkpoint');
    saveCheckpoint(checkpoint, {
      step: 0,
      epoch: 0,
      config,
      rng: { seed: config.unet.seed },
      layout: layout.slots,
      params: layout.values,
      adam: { m: new Float32Array(P), v: new Float32Array(P) },
    });
    progress(`initial checkpoint: ${P} parameters`);
  }
  process.stdout.write(
    `${JSON.stringify({ config: join(out, 'config.json'), models: written, checkpoint, snapshots }, null, 2)}\n`,
  );
});
