/** npm run report -- RUN_DIR [--out FILE]: the difficulty report of a run (see src/uncertainty/report.ts). */
import { parseArgs } from 'node:util';
import { writeReport } from '../uncertainty/report.js';
import { UsageError, progress, runMain } from './cli.js';

const HELP = `Usage: npm run report -- RUN_DIR [--out FILE]

Reads the MC-Dropout difficulty trajectories of a training run (RUN_DIR/trajectory.jsonl and every
RUN_DIR/fold-*/trajectory.jsonl) and writes a self-contained HTML report with, per trajectory:
the difficulty distribution per MC phase (median and quartile band over epochs), the trajectories of
the 5 hardest and 5 easiest images (by final-phase difficulty), and the Spearman rank correlation
between difficulty and Dice at each phase. Each plot is also written as a PNG, in <FILE without
.html>-png/.

Options:
  --out FILE                 the HTML file to write (default: RUN_DIR/report.html)
  --help                     show this help`;

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: { out: { type: 'string' }, help: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${HELP}`);
  }
}

runMain(async () => {
  const parsed = parse(process.argv.slice(2));
  if (parsed.values.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const [runDir, ...extra] = parsed.positionals;
  if (runDir === undefined) throw new UsageError(`RUN_DIR is required\n\n${HELP}`);
  if (extra.length)
    throw new UsageError(`one RUN_DIR expected, got ${parsed.positionals.length}: ${parsed.positionals.join(' ')}`);
  const out = parsed.values.out;
  if (out !== undefined && out.trim() === '') throw new UsageError('--out must name a file');
  const r = await writeReport(runDir, out);
  progress(
    `report: ${r.sections} trajectory file${r.sections === 1 ? '' : 's'}, ${r.pngs.length} PNG${r.pngs.length === 1 ? '' : 's'}`,
  );
  process.stdout.write(`${r.html}\n`);
});
