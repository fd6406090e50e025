/** npm run check-data: validate a dataset (every pair decoded and resized as training would) and summarize it. */
import { DATASET_FORMATS, type DatasetSummary, loadDataset, summarizeDataset } from '../data/datasets.js';
import { asText, integerFrom, oneOf, orWord, parseFlags, progress, runMain } from './cli.js';

const pct = (v: number): string => `${(100 * v).toFixed(v < 0.01 ? 2 : 1)}%`;

function table(s: DatasetSummary, seconds: number): string {
  const sizes = s.sourceSizes.map((z) => `${z.width}×${z.height} ×${z.count}`);
  const rows: [string, string][] = [
    ['dataset', s.dir === undefined ? 'built-in synthetic set' : s.dir],
    ['format', s.format],
    ['pairs', String(s.pairs)],
    [
      'source sizes',
      sizes.length > 4 ? `${sizes.slice(0, 4).join(', ')}, … (${sizes.length} sizes)` : sizes.join(', '),
    ],
    ['resized to', `${s.size}×${s.size} (aspect ratio not kept)`],
    [
      'sequences',
      s.sequences.known ? `${s.sequences.count} (${s.sequences.known} of ${s.pairs} pairs assigned)` : 'none',
    ],
    ['image mean R G B', s.imageMean.map((v) => v.toFixed(3)).join('  ')],
    ['image std R G B', s.imageStd.map((v) => v.toFixed(3)).join('  ')],
    [
      'mask coverage',
      `mean ${pct(s.coverage.mean)}, median ${pct(s.coverage.median)}, min ${pct(s.coverage.min)}, max ${pct(s.coverage.max)}, empty ${s.coverage.empty}`,
    ],
    ['load time', `${seconds.toFixed(1)} s`],
  ];
  const lines = rows.map(([k, v]) => `${k.padEnd(18)} ${v}`);
  lines.push(`${'problems'.padEnd(18)} ${s.problems.length ? s.problems.length : 'none'}`);
  for (const p of s.problems) lines.push(`  - ${p}`);
  if (s.errors.length) {
    lines.push(`${'errors'.padEnd(18)} ${s.errors.length} pair${s.errors.length === 1 ? '' : 's'} could not be loaded`);
    for (const e of s.errors) lines.push(`  ! ${e}`);
  }
  return `${lines.join('\n')}\n`;
}

runMain(async () => {
  const f = parseFlags(
    'check-data',
    'Validates a dataset: lists its image/mask pairs, decodes and resizes every one as training would, and prints\n' +
      'a summary (pairs, source sizes, per-channel image mean, mask coverage, problems found). Exits non-zero when\n' +
      'a pair cannot be loaded; warnings (fixed on the way) are listed but do not fail the check.',
    {
      data: { help: 'dataset folder', parse: asText, default: undefined, defaultHelp: 'the built-in synthetic set' },
      format: { help: DATASET_FORMATS.join(', '), parse: oneOf(DATASET_FORMATS), default: 'auto' },
      size: { help: 'resize to N×N pixels', parse: integerFrom(1), default: 224 },
      limit: {
        help: 'check only the first N pairs',
        parse: orWord('all', undefined, integerFrom(1)),
        default: undefined,
        defaultHelp: 'all',
      },
      json: { help: 'print the summary as JSON', switch: true },
    },
  );
  const { size, limit } = f;
  const dir = f.data === '' ? undefined : f.data;

  const t0 = performance.now();
  let last = 0;
  const data = await loadDataset(dir, f.format, size, {
    limit,
    skipBad: true,
    onProgress: (done, total) => {
      const now = performance.now();
      if (done === total || now - last > 1000) {
        last = now;
        progress(`checked ${done}/${total}`);
      }
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const summary = summarizeDataset(data);
  process.stdout.write(
    f.json
      ? `${JSON.stringify({ ok: summary.errors.length === 0, ...summary, seconds }, null, 2)}\n`
      : table(summary, seconds),
  );
  if (summary.errors.length)
    throw new Error(
      `${summary.errors.length} of ${summary.errors.length + summary.pairs} pairs could not be loaded; first: ${summary.errors[0]}`,
    );
});
