/**
 * npm run train end to end on the synthetic set (tiny preset, so it fits CI time): the loss falls,
 * validation Dice clears a bar, one step per run and K steps per run give the same model, an existing
 * run is never overwritten without --overwrite and resumes only with its own options, dataset and
 * checkpoint, a run killed with SIGKILL and resumed ends exactly where an
 * uninterrupted run ends, and bad options fail before anything is written.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTrajectory } from '../../src/uncertainty/trajectory.js';

const ARGS = [
  '--preset',
  'tiny',
  '--size',
  '32',
  '--batch',
  '4',
  '--epochs',
  '6',
  '--synthetic-count',
  '40',
  '--lr',
  '0.003',
];
// The method end to end: MC-Dropout phases every 2 epochs set each image's ε_1 from its difficulty.
const ADAPTIVE = [...ARGS, '--adaptive', '--mc-every', '2', '--mc-samples', '4'];
const tsx = 'node_modules/.bin/tsx';
const train = (...args: string[]) => spawnSync(tsx, ['src/cli/train.ts', ...args], { encoding: 'utf8' });
const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { trainLoss: number; valDice: number; epoch: number });

describe('npm run train', () => {
  const out = mkdtempSync(join(tmpdir(), 'train-'));
  const full = join(out, 'full');

  it('trains on the synthetic set: loss falls and validation Dice clears 0.5', () => {
    const r = train(...ARGS, '--out', full);
    expect(r.status, r.stderr).toBe(0);
    const log = lines(join(full, 'fold-0', 'epochs.jsonl'));
    expect(log).toHaveLength(6);
    expect(log.at(-1)!.trainLoss).toBeLessThan(log[0]!.trainLoss);
    // A tiny U-Net (base 4) on 32² synthetic polyps after 6 epochs of ~7 steps: the polyps differ from
    // the mucosa in tint, so even this little training separates them better than chance (all-background
    // Dice is 0, all-foreground about 0.3 at the set's coverage).
    expect(Math.max(...log.map((l) => l.valDice))).toBeGreaterThan(0.5);
    const summary = JSON.parse(r.stdout) as { folds: { test: { dice: number }; model: string }[] };
    expect(existsSync(summary.folds[0]!.model)).toBe(true);
    expect(summary.folds[0]!.test.dice).toBeGreaterThan(0);
    expect(readdirSync(join(full, 'fold-0')).sort()).toEqual([
      'checkpoint',
      'epochs.jsonl',
      'metrics.json',
      'model.onnx',
    ]);
    // metrics.json: the shipped weights' Dice on the training images (convergence) and each test
    // image's polyp area, which study v2 tabulates.
    const metrics = JSON.parse(readFileSync(join(full, 'fold-0', 'metrics.json'), 'utf8')) as {
      train: { dice: number };
      images: { area: number; dice: number }[];
    };
    expect(metrics.train.dice).toBeGreaterThan(0.3);
    expect(metrics.train.dice).toBeLessThanOrEqual(1);
    for (const row of metrics.images) expect(row.area).toBeGreaterThan(0);
    expect(new Set(metrics.images.map((r) => r.area)).size).toBeGreaterThan(1);
  });

  it('one step per run (--steps-per-run 1) trains byte-identically to the default K-step runs', () => {
    const one = join(out, 'one-step');
    const r = train(...ARGS, '--steps-per-run', '1', '--out', one);
    expect(r.status, r.stderr).toBe(0);
    expect(
      readFileSync(join(one, 'fold-0', 'model.onnx')).equals(readFileSync(join(full, 'fold-0', 'model.onnx'))),
    ).toBe(true);
    expect(readFileSync(join(one, 'fold-0', 'metrics.json'), 'utf8')).toBe(
      readFileSync(join(full, 'fold-0', 'metrics.json'), 'utf8'),
    );
  });

  it('refuses to write over an existing run without --resume or --overwrite, and leaves it untouched', () => {
    const before = readFileSync(join(full, 'fold-0', 'model.onnx'));
    const r = train(...ARGS, '--out', full);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /already holds a run \(train\.json\): continue it with --resume, replace it with --overwrite/,
    );
    expect(readFileSync(join(full, 'fold-0', 'model.onnx')).equals(before)).toBe(true);
  });

  it('study v2 controls: --eps-warmup and --eps-shuffle train, are saved, and the phases keep the mapped values', () => {
    const dir = join(out, 'shuffled');
    const r = train(...ADAPTIVE, '--eps-warmup', '2', '--eps-shuffle', '--out', dir);
    expect(r.status, r.stderr).toBe(0);
    const saved = JSON.parse(readFileSync(join(dir, 'train.json'), 'utf8')) as { options: Record<string, unknown> };
    expect(saved.options.epsWarmup).toBe(2);
    expect(saved.options.epsShuffle).toBe(true);
    const phases = readTrajectory(join(dir, 'fold-0'));
    expect(phases.length).toBeGreaterThan(0);
    for (const p of phases) {
      // linear:0,1: a permutation of min-max values still spans [0, 1], but not in difficulty order.
      expect(Math.min(...p.rows.map((x) => x.eps))).toBe(0);
      expect(Math.max(...p.rows.map((x) => x.eps))).toBe(1);
    }
  });

  it('--resume refuses flags that disagree with the saved run, naming them', () => {
    const r = train('--out', full, '--resume', '--epochs', '8', '--lr', '0.5', '--preset', 'tiny');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--epochs \(saved: 6, given: 8\), --lr \(saved: 0.003, given: 0.5\)/);
    expect(r.stderr).not.toMatch(/--preset/); // the same as saved: no conflict
  });

  it('--resume refuses a fold whose checkpoint manifest is gone instead of restarting it', () => {
    const copy = join(out, 'no-manifest');
    cpSync(full, copy, { recursive: true });
    rmSync(join(copy, 'fold-0', 'checkpoint', 'manifest.json'));
    const r = train('--out', copy, '--resume');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /manifest\.json is missing but .*epochs\.jsonl records finished epochs: refusing to restart the fold/,
    );
    expect(readFileSync(join(copy, 'fold-0', 'epochs.jsonl'), 'utf8')).toBe(
      readFileSync(join(full, 'fold-0', 'epochs.jsonl'), 'utf8'),
    );
  });

  const kvasir = '../shared/data/Kvasir-SEG';
  it.skipIf(!existsSync(kvasir))(
    '--resume refuses a dataset that changed since the run started (fingerprint in train.json)',
    () => {
      // A 12-pair Kvasir-SEG layout of symlinks in a temporary folder (no data is copied).
      const data = join(out, 'kvasir12');
      for (const sub of ['images', 'masks']) mkdirSync(join(data, sub), { recursive: true });
      const names = readdirSync(join(kvasir, 'images')).sort().slice(0, 12);
      for (const n of names)
        for (const sub of ['images', 'masks']) symlinkSync(resolve(kvasir, sub, n), join(data, sub, n));
      const run = join(out, 'kvasir-run');
      const first = train(
        '--data',
        data,
        '--preset',
        'tiny',
        '--size',
        '32',
        '--batch',
        '2',
        '--epochs',
        '1',
        '--out',
        run,
      );
      expect(first.status, first.stderr).toBe(0);
      for (const n of names.slice(0, 3)) for (const sub of ['images', 'masks']) rmSync(join(data, sub, n));
      const r = train('--out', run, '--resume');
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/is not the one .* was trained on: 12 images then, 9 now/);
    },
  );

  it('--overwrite replaces an existing run', () => {
    const dir = join(out, 'overwritten');
    expect(train(...ARGS, '--epochs', '1', '--out', dir).status).toBe(0);
    const r = train(...ARGS, '--epochs', '2', '--overwrite', '--out', dir);
    expect(r.status, r.stderr).toBe(0);
    expect(lines(join(dir, 'fold-0', 'epochs.jsonl'))).toHaveLength(2);
  });

  const adaptive = join(out, 'adaptive');
  it('runs the adaptive method: trajectory files next to the usual outputs', () => {
    const r = train(...ADAPTIVE, '--out', adaptive);
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(join(adaptive, 'fold-0')).sort()).toEqual([
      'checkpoint',
      'epochs.jsonl',
      'metrics.json',
      'model.onnx',
      'trajectory.csv',
      'trajectory.jsonl',
    ]);
  });

  it('records the difficulty trajectory (3 MC phases) and maps difficulty to ε within [0, 1], harder → larger', () => {
    const rows = readFileSync(join(adaptive, 'fold-0', 'trajectory.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { phase: number; epoch: number; difficulty: number; eps: number });
    expect([...new Set(rows.map((r) => r.epoch))]).toEqual([2, 4, 6]);
    for (const phase of [0, 1, 2]) {
      const ps = rows.filter((r) => r.phase === phase).sort((a, b) => a.difficulty - b.difficulty);
      expect(ps.length).toBeGreaterThan(20);
      expect(ps.every((r) => r.eps >= 0 && r.eps <= 1)).toBe(true);
      expect(ps[0]!.eps).toBeCloseTo(0, 6);
      expect(ps.at(-1)!.eps).toBeCloseTo(1, 6);
      for (const [k, r] of ps.slice(1).entries()) expect(r.eps).toBeGreaterThanOrEqual(ps[k]!.eps);
    }
    const r = spawnSync(tsx, ['src/cli/report.ts', adaptive], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const html = readFileSync(join(adaptive, 'report.html'), 'utf8');
    expect((html.match(/<svg/g) ?? []).length).toBeGreaterThanOrEqual(3);
  });

  const cvc = '../shared/data/CVC-ClinicDB';
  it.skipIf(!existsSync(cvc))('trains on a CVC-ClinicDB subset: validation loss falls, Dice improves', () => {
    const dir = join(out, 'cvc');
    const r = train(
      '--data',
      cvc,
      '--limit',
      '60',
      '--size',
      '64',
      '--preset',
      'tiny',
      '--batch',
      '4',
      '--epochs',
      '6',
      '--lr',
      '0.003',
      '--out',
      dir,
    );
    expect(r.status, r.stderr).toBe(0);
    const log = lines(join(dir, 'fold-0', 'epochs.jsonl')) as unknown as { valLoss: number; valDice: number }[];
    expect(log.at(-1)!.valLoss).toBeLessThan(log[0]!.valLoss);
    expect(Math.max(...log.slice(1).map((l) => l.valDice))).toBeGreaterThan(log[0]!.valDice);
  });

  it('records the ε_1 actually used in the trajectory when MC phases run without --adaptive (--eps 0.3)', () => {
    const dir = join(out, 'fixed-eps');
    const r = train(...ARGS, '--epochs', '2', '--mc-every', '2', '--mc-samples', '2', '--eps', '0.3', '--out', dir);
    expect(r.status, r.stderr).toBe(0);
    const rows = readFileSync(join(dir, 'fold-0', 'trajectory.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { eps: number });
    expect(rows.length).toBeGreaterThan(0);
    expect(new Set(rows.map((x) => x.eps))).toEqual(new Set([0.3]));
  });

  it('resumes an adaptive run after kill -9 to exactly the uninterrupted result (trajectory included)', async () => {
    const cut = join(out, 'cut');
    // node itself, not the tsx wrapper: SIGKILL to the wrapper would leave its child training on.
    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/train.ts', ...ADAPTIVE, '--out', cut],
      { stdio: 'ignore' },
    );
    const manifest = join(cut, 'fold-0', 'checkpoint', 'manifest.json');
    // Kill once two epochs are checkpointed: somewhere inside the third epoch.
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { epoch: number }).epoch >= 2) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        }
      }, 20);
      child.on('exit', () => {
        clearInterval(timer);
        reject(new Error('training finished before it could be killed'));
      });
    });
    await new Promise((r) => child.on('exit', r));
    expect(existsSync(join(cut, 'fold-0', 'model.onnx'))).toBe(false);
    const r = train('--out', cut, '--resume');
    expect(r.status, r.stderr).toBe(0);
    for (const f of ['metrics.json', 'trajectory.jsonl'])
      expect(readFileSync(join(cut, 'fold-0', f), 'utf8')).toBe(readFileSync(join(adaptive, 'fold-0', f), 'utf8'));
    expect(
      readFileSync(join(cut, 'fold-0', 'model.onnx')).equals(readFileSync(join(adaptive, 'fold-0', 'model.onnx'))),
    ).toBe(true);
    expect(lines(join(cut, 'fold-0', 'epochs.jsonl')).map((l) => l.trainLoss)).toEqual(
      lines(join(adaptive, 'fold-0', 'epochs.jsonl')).map((l) => l.trainLoss),
    );
  });

  it('resumes runs whose train.json an earlier version wrote (flag text) to the uninterrupted result', () => {
    // The adaptive run's first 2 epochs, then its train.json as versions before typed options wrote it.
    const old = join(out, 'old-train-json');
    expect(train(...ADAPTIVE, '--epochs', '2', '--out', old).status).toBe(0);
    const saved = JSON.parse(readFileSync(join(old, 'train.json'), 'utf8')) as Record<string, unknown>;
    const options = {
      ...{ data: null, format: 'auto', fold: 0, folds: 5, split: 'random', epochs: 6, batch: 4, lr: 0.003, size: 32 },
      ...{ loss: 'polydice1', eps: 0, preset: 'tiny', ep: 'cpu', seed: 1, dropoutP: 0.5, valFraction: 0.1 },
      ...{ syntheticCount: 40, limit: null, augment: true, mcEvery: 2, mcSamples: 4, mcP: 0.5 },
      ...{ uncertainty: 'variance', aggregate: 'mean', epsMap: 'linear:0,1:up', stepsPerRun: 'epoch' },
    };
    writeFileSync(join(old, 'train.json'), JSON.stringify({ ...saved, options }, null, 2));
    const conflict = train('--out', old, '--resume', '--adaptive', '--eps-map', 'rank:0,1');
    expect(conflict.status).toBe(2);
    const savedEps = '{"kind":"linear","epsMin":0,"epsMax":1,"direction":"up"}';
    expect(conflict.stderr).toContain(`--eps-map (saved: ${savedEps}, given: {"kind":"rank"`);
    // Flags that agree with the old options: no conflict.
    const agreeing = ['--adaptive', '--loss', 'polydice1', '--ep', 'cpu', '--aggregate', 'mean'];
    const r = train('--out', old, '--resume', ...agreeing);
    expect(r.status, r.stderr).toBe(0);
    for (const f of ['metrics.json', 'trajectory.jsonl']) {
      expect(readFileSync(join(old, 'fold-0', f), 'utf8')).toBe(readFileSync(join(adaptive, 'fold-0', f), 'utf8'));
    }
    const model = (dir: string) => readFileSync(join(dir, 'fold-0', 'model.onnx'));
    expect(model(old).equals(model(adaptive))).toBe(true);

    // The oldest train.json: no MC phases, no ε mapping, no steps per run.
    const oldest = join(out, 'oldest-train-json');
    cpSync(full, oldest, { recursive: true });
    const first = JSON.parse(readFileSync(join(oldest, 'train.json'), 'utf8')) as { options: Record<string, unknown> };
    const { mcEvery, mcSamples, mcP, uncertainty, aggregate, stepsPerRun, ...kept } = first.options;
    expect([mcEvery, stepsPerRun]).toEqual([0, 'epoch']);
    const v1 = { ...kept, loss: 'polydice1', eps: 0, ep: 'cpu' };
    writeFileSync(join(oldest, 'train.json'), JSON.stringify({ ...first, options: v1 }, null, 2));
    const again = train('--out', oldest, '--resume', '--eps', '0');
    expect(again.status, again.stderr).toBe(0);
    expect(model(oldest).equals(model(full))).toBe(true);
  });

  it.each([
    [['--epochs', '0'], /--epochs must be a positive integer/],
    [['--ep', 'tpu'], /--ep must be a comma-separated list of cpu, cuda, webgpu/],
    [['--loss', 'focal'], /--loss must be one of/],
    [['--eps=-0.5'], /--eps must be greater than -0.5/],
    [
      ['--adaptive', '--mc-every', '2', '--eps', '0.3'],
      /--eps sets one fixed ε_1 for every image, and --adaptive .* give one of them/,
    ],
    [['--eps-map', 'linear:0,1'], /--eps-map maps each image's difficulty to its ε_1 with --adaptive: add --adaptive/],
    [['--eps-shuffle'], /--eps-shuffle permutes the ε_1 that --adaptive sets from difficulty: add --adaptive/],
    [['--eps-warmup=-1'], /--eps-warmup must be a non-negative integer/],
    [['--fold', '7'], /--fold must be all or an integer in 0..4/],
    [['--data', '/nonexistent/data'], /nonexistent/],
    [['--resume'], /--resume needs --out/],
    [['--steps-per-run', '0'], /--steps-per-run must be a positive integer or epoch/],
    [['--folds', '0'], /--folds must be an integer of at least 2, got "0"/],
    [
      ['--steps-per-run', '1000000'],
      /--steps-per-run 1000000 needs about \d+ MiB for its stacked batches .* over the budget of \d+ MiB/,
    ],
  ])('%j fails with a clear message', (args, message) => {
    const dir = join(mkdtempSync(join(tmpdir(), 'bad-')), 'run');
    const r = train(...args, ...(args.includes('--resume') ? [] : ['--out', dir]), '--preset', 'tiny', '--size', '32');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
    if (!args.includes('--data')) expect(existsSync(dir)).toBe(false);
  });

  it('stops on a non-finite loss with a message', () => {
    const r = train(...ARGS, '--lr', '1e30', '--out', join(out, 'nan'));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/loss became (NaN|Infinity|-Infinity) at epoch 1, batch \d+ \(try a lower --lr\)/);
  });

  it('--ep cuda explains how to get the CUDA provider when it is missing, before loading data or writing anything', () => {
    const r = train(...ARGS, '--ep', 'cuda', '--epochs', '1', '--out', join(out, 'cuda'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/CUDA provider library is not installed.*ONNXRUNTIME_NODE_INSTALL=cuda12/s);
    expect(r.stderr).not.toMatch(/loading/);
    expect(existsSync(join(out, 'cuda'))).toBe(false);
  });

  it('--ep cuda,cpu says which provider it got, and takes the defaults of that provider (CPU: batch 8, 30 epochs)', () => {
    const dir = join(out, 'fallback');
    const r = train('--ep', 'cuda,cpu', '--preset', 'tiny', '--epochs', '1', '--synthetic-count', '20', '--out', dir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/--ep: cuda is not available \(onnxruntime-node's CUDA provider library is not installed/);
    expect(r.stderr).toMatch(/--ep: using cpu/);
    const saved = JSON.parse(readFileSync(join(dir, 'train.json'), 'utf8')) as {
      provider: string;
      options: { size: number; batch: number; epochs: number };
    };
    expect(saved.provider).toBe('cpu');
    expect([saved.options.size, saved.options.batch]).toEqual([32, 8]); // size: the tiny preset's own (32²)
  });
});
