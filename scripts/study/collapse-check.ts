/**
 * Numeric check of the PolyDice-1 collapse analysis (docs/results/collapse.md) on the real CVC-ClinicDB masks:
 * for every frame, at the study's size (64×64) and the method's (224×224), and for ε₁ ∈ {−0.25, 0, 0.25, 0.5,
 * 1, 2} and uniform predictions p_i = c (c ∈ {0.1, 0.3, 0.5, 0.7, 0.9}, and c = 1, the all-foreground
 * prediction), the exact gradient of our loss (src/study/collapse.ts: δ, η and the clip as in losses.ts):
 *   bg up     share of frames whose background pixels are pushed up (α < 0: ∂L/∂p_i < 0 where g_i = 0); at
 *             c = 1 this says the all-foreground corner is a local minimum of L over [0, 1]^N
 *   fg up     share of frames whose foreground pixels are pushed up
 *   ∂L/∂s > 0 share of frames with kθ² > 1 (the first study's condition)
 *   bias up   share of frames where Σ_i ∂L/∂z_i < 0 (a common shift of every logit lowers the loss), and the
 *             mean over frames of Σ_i ∂L/∂z_i: the gradient of the batch loss on the output layer's bias
 * plus the foreground-fraction quantiles, the per-frame ε₁ thresholds (closed form, α linear in ε₁), the
 * f threshold per ε₁ (the frames' own, and the large-image limit's closed form).
 *
 *   npx tsx scripts/study/collapse-check.ts [--data ../shared/data/CVC-ClinicDB] [--sizes 64,224]
 *     [--out artifacts/collapse-check.json] [--load-dataset]
 * Writes the JSON to --out, markdown tables to stdout, progress to stderr. Takes a few seconds: the masks are
 * read by the loader's own mask path (listDataset, decodeMask: threshold at full resolution, then
 * nearestResize, as loadDataset's decodePair does) without decoding the images; --load-dataset goes through
 * loadDataset itself (same masks, ~30 s more for the images).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeMask, listDataset, loadDataset } from '../../src/data/datasets.js';
import { nearestResize } from '../../src/data/preprocess.js';
import {
  backgroundEpsThreshold,
  limitPushUpIntervals,
  pixelCoefficients,
  polyDiceState,
  scaleConditionF,
  uniformSums,
} from '../../src/study/collapse.js';
import { quantileSorted } from '../../src/common/stats.js';

/** 0.125: what the [0, 0.25] mappings give every image before the first MC phase. */
const EPS = [-0.25, 0, 0.125, 0.25, 0.5, 1, 2];
const CS = [0.1, 0.3, 0.5, 0.7, 0.9, 1];
const QS = [0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 1];

interface Cell {
  c: number;
  bgUp: number;
  fgUp: number;
  scaleUp: number;
  biasUp: number;
  meanBiasGrad: number;
  /** frames sorted by f: the largest f with background pushed up, the smallest f without */
  maxFUp: number | null;
  minFNotUp: number | null;
}

/** One frame at one (ε₁, c): the signs the check counts. */
function frameSigns(n: number, nFg: number, c: number, eps: number) {
  const st = polyDiceState(uniformSums(n, nFg, c), eps);
  const { alpha, beta } = pixelCoefficients(st);
  // Σ_i ∂L/∂p_i = α·Σp_i − β·Σg_i = α·c·N − β·|G|; ∂L/∂z_i = ∂L/∂p_i·c(1 − c)
  const biasGrad = (alpha * c * n - beta * nFg) * c * (1 - c);
  return { bgUp: alpha < 0, fgUp: alpha * c - beta < 0, scaleUp: st.k * st.theta ** 2 > 1, biasGrad };
}

function checkSize(fg: number[], n: number) {
  const f = fg.map((x) => x / n);
  const order = f.map((_, i) => i).sort((i, j) => f[i]! - f[j]!);
  const sortedF = order.map((i) => f[i]!);
  const coverage = Object.fromEntries(QS.map((q) => [String(q), quantileSorted(sortedF, q)]));
  const cells = EPS.map((eps) => ({
    eps,
    cells: CS.map((c): Cell => {
      let [bgUp, fgUp, scaleUp, biasUp, biasSum] = [0, 0, 0, 0, 0];
      let maxFUp: number | null = null;
      let minFNotUp: number | null = null;
      for (const i of order) {
        const s = frameSigns(n, fg[i]!, c, eps);
        bgUp += +s.bgUp;
        fgUp += +s.fgUp;
        scaleUp += +s.scaleUp;
        biasUp += +(s.biasGrad < 0);
        biasSum += s.biasGrad;
        if (s.bgUp) maxFUp = f[i]!;
        else if (minFNotUp === null) minFNotUp = f[i]!;
      }
      const m = fg.length;
      return {
        c,
        bgUp: bgUp / m,
        fgUp: fgUp / m,
        scaleUp: scaleUp / m,
        biasUp: biasUp / m,
        meanBiasGrad: biasSum / m,
        maxFUp,
        minFNotUp,
      };
    }),
  }));
  // Per-frame ε₁ above which the background is pushed up (the frames where a larger ε₁ pushes up); 'below':
  // pushed up for ε₁ below a threshold > −½; never: for no ε₁ > −½ (the loss's valid range, epsilon.ts)
  const thresholds = CS.map((c) => {
    const above: number[] = [];
    let below = 0;
    let never = 0;
    for (const x of fg) {
      const t = backgroundEpsThreshold(polyDiceState(uniformSums(n, x, c), 0));
      if (t.up === 'above' || t.up === 'always') above.push(t.eps ?? Number.NEGATIVE_INFINITY);
      else if (t.up === 'below' && t.eps! > -0.5) below++;
      else never++;
    }
    above.sort((a, b) => a - b);
    return {
      c,
      above: above.length,
      below,
      never,
      quantiles: Object.fromEntries(QS.map((q) => [String(q), quantileSorted(above, q)])),
    };
  });
  // The frame-mean bias gradient is linear in k (α and β are): where it changes sign, per c
  const meanBias = (c: number, eps: number): number => fg.reduce((a, x) => a + frameSigns(n, x, c, eps).biasGrad, 0);
  const biasSignChange = CS.filter((c) => c < 1).map((c) => {
    const [m0, m1] = [meanBias(c, 0), meanBias(c, 1)];
    return { c, eps: m1 === m0 ? null : -m0 / (m1 - m0), up: m1 < m0 ? 'above' : 'below' };
  });
  return { frames: fg.length, pixels: n, coverage, cells, thresholds, biasSignChange };
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
const fmtF = (x: number | null): string => (x === null ? '–' : `${(100 * x).toFixed(2)}%`);
const cName = (c: number): string => (c === 1 ? 'c = 1 (all-fg)' : `c = ${c}`);

function markdown(res: ReturnType<typeof checkSize>, size: number): string {
  const out: string[] = [`### ${size}×${size} (${res.frames} frames, N = ${res.pixels})`, ''];
  out.push(`| f quantile | ${QS.map((q) => `q${q * 100}`).join(' | ')} |`, `| --- |${QS.map(() => ' --: |').join('')}`);
  out.push(`| foreground fraction f | ${QS.map((q) => fmtF(res.coverage[String(q)]!)).join(' | ')} |`, '');
  out.push('Share of frames whose background pixels are pushed up at a uniform prediction p_i = c:', '');
  out.push(`| ε₁ | ${CS.map(cName).join(' | ')} |`, `| --: |${CS.map(() => ' --: |').join('')}`);
  for (const e of res.cells) out.push(`| ${e.eps} | ${e.cells.map((x) => pct(x.bgUp)).join(' | ')} |`);
  out.push(
    '',
    "At c = 0.5: the first study's condition, the common-shift (bias) direction, background and foreground:",
    '',
  );
  out.push(
    '| ε₁ | ∂L/∂s > 0 | bias up | mean Σ∂L/∂z (bias gradient) | bg up | fg up | f of bg-up frames ≤ | f of others ≥ |',
  );
  out.push('| --: | --: | --: | --: | --: | --: | --: | --: |');
  for (const e of res.cells) {
    const x = e.cells.find((y) => y.c === 0.5)!;
    const row = [
      pct(x.scaleUp),
      pct(x.biasUp),
      x.meanBiasGrad.toExponential(2),
      pct(x.bgUp),
      pct(x.fgUp),
      fmtF(x.maxFUp),
      fmtF(x.minFNotUp),
    ];
    out.push(`| ${e.eps} | ${row.join(' | ')} |`);
  }
  const cs = res.biasSignChange;
  out.push('', 'ε₁ where the frame-mean bias gradient changes sign (α and β are linear in ε₁):', '');
  out.push(`| c | ${cs.map((x) => x.c).join(' | ')} |`, `| --- |${cs.map(() => ' --: |').join('')}`);
  const crossing = cs.map((x) => (x.eps === null ? '–' : `${x.eps.toFixed(3)} (up ${x.up})`));
  out.push(`| ε₁ | ${crossing.join(' | ')} |`);
  out.push('', 'Per-frame ε₁ above which the background is pushed up (quantiles over the frames that have one):', '');
  out.push('| c | frames with a threshold | min | q10 | q25 | median | q75 | q90 | max | up for small ε₁ | never |');
  out.push('| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |');
  for (const t of res.thresholds) {
    const q = ['0', '0.1', '0.25', '0.5', '0.75', '0.9', '1'].map((k) => (t.above ? t.quantiles[k]!.toFixed(3) : '–'));
    out.push(`| ${t.c} | ${t.above} | ${q.join(' | ')} | ${t.below} | ${t.never} |`);
  }
  return out.join('\n');
}

function limitTable(): { md: string; json: unknown } {
  const rows = EPS.map((eps) => ({
    eps,
    scaleF: scaleConditionF(eps),
    intervals: CS.map((c) => ({ c, up: limitPushUpIntervals(eps, c) })),
  }));
  const iv = (x: [number, number][]): string =>
    x.length === 0
      ? 'none'
      : x
          .map(([a, b]) => (a <= 1e-5 ? `< ${fmtF(b)}` : b >= 0.999 ? `> ${fmtF(a)}` : `${fmtF(a)}–${fmtF(b)}`))
          .join(', ');
  const md = [
    '### Large-image limit (δ → 0): f where the background is pushed up, and f where ∂L/∂s > 0',
    '',
    `| ε₁ | kθ² > 1 for f < | ${CS.map(cName).join(' | ')} |`,
    `| --: | --: |${CS.map(() => ' --: |').join('')}`,
    ...rows.map(
      (r) =>
        `| ${r.eps} | ${r.scaleF > 0 ? fmtF(r.scaleF) : 'none'} | ${r.intervals.map((x) => iv(x.up)).join(' | ')} |`,
    ),
  ].join('\n');
  return { md, json: rows };
}

/** Every mask of the dataset at full resolution, 0/1, in listing order (frames 1…612). */
async function fullMasks(dir: string) {
  const items = listDataset(dir, 'cvc').items;
  process.stderr.write(`reading ${items.length} masks from ${dir}…\n`);
  return Promise.all(items.map((it) => decodeMask(it.maskPath!)));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string', default: '../shared/data/CVC-ClinicDB' },
      sizes: { type: 'string', default: '64,224' },
      out: { type: 'string', default: 'artifacts/collapse-check.json' },
      'load-dataset': { type: 'boolean', default: false },
    },
  });
  const sizes = values.sizes.split(',').map(Number);
  const t0 = performance.now();
  const results = [];
  const md: string[] = [];
  for (const size of sizes)
    if (!Number.isInteger(size) || size < 1) throw new Error(`--sizes: ${values.sizes} is not a list of sizes`);
  const full = values['load-dataset'] ? [] : await fullMasks(values.data);
  for (const size of sizes) {
    let masks: Uint8Array[];
    if (values['load-dataset']) {
      process.stderr.write(`loading ${values.data} at ${size}×${size}…\n`);
      masks = (await loadDataset(values.data, 'cvc', size)).samples.map((s) => s.mask);
    } else masks = full.map((m) => nearestResize(m.mask, m.width, m.height, size, size));
    const fg = masks.map((m) => m.reduce((a, v) => a + v, 0));
    const res = checkSize(fg, size * size);
    results.push({ size, ...res });
    md.push(markdown(res, size));
  }
  const limit = limitTable();
  md.push(limit.md);
  const seconds = (performance.now() - t0) / 1000;
  const json = { data: values.data, eps: EPS, c: CS, quantiles: QS, sizes: results, limit: limit.json, seconds };
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(json, null, 1)}\n`);
  process.stdout.write(`${md.join('\n\n')}\n`);
  process.stderr.write(`wrote ${values.out} (${seconds.toFixed(1)} s)\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
