/**
 * The GPU check's report: one summary row per phase (with the parity tolerances applied, so a
 * parity phase out of tolerance is a failure), then gpu-check.md's sections (train step against
 * PyTorch, conv weight-gradient formulations, loss per step of the parity runs).
 */
import { convGradReport } from '../../src/bench/benchConvGrad.js';
import { markdownTable } from '../../src/common/table.js';
import type { PhaseOutcome } from './child.js';
import type { Config } from './config.js';

/**
 * Parity tolerances; the reasons are in docs/gpu.md ("Tolerances"). trajectory: max over the steps of
 * |loss_gpu − loss_cpu| / loss_cpu of two free-running trainings; gradient: ‖g_gpu − g_cpu‖ / ‖g_cpu‖
 * and loss at the same parameters.
 */
export const TOLERANCE = {
  tf32Off: { trajectory: 1e-3, gradient: 1e-4, loss: 1e-5 },
  tf32On: { trajectory: 1e-2, gradient: 2e-2, loss: 2e-3 },
} as const;
/** A CPU-only run compares the CPU with itself: nothing may differ. */
const NO_TOLERANCE = { trajectory: 0, gradient: 0, loss: 0 };

// biome-ignore lint/suspicious/noExplicitAny: phase results are read back from JSON written by other versions of this script
type Any = any;

const fmt = (x: number | undefined | null, d = 1): string =>
  x === undefined || x === null || Number.isNaN(x) ? '-' : x.toFixed(d);
const sci = (x: number): string => (x === 0 ? '0' : x.toExponential(1));

/** The summary row of a parity phase, and its problems (out of tolerance). */
function parityRow(name: string, r: Any, cfg: Config): { row: string[]; problems: string[] } {
  const tol = cfg.ep === 'cpu' ? NO_TOLERANCE : r.tf32 === 'on' ? TOLERANCE.tf32On : TOLERANCE.tf32Off;
  const gradWorst = Math.max(...r.gradients.map((g: Any) => g.gradientRelL2Diff));
  const lossWorst = Math.max(...r.gradients.map((g: Any) => g.lossRelDiff));
  const problems = [
    r.vsCpu.maxRelLossDiff > tol.trajectory
      ? `trajectory: max relative loss difference ${r.vsCpu.maxRelLossDiff} > ${tol.trajectory}`
      : '',
    gradWorst > tol.gradient ? `gradient relative L2 difference ${gradWorst} > ${tol.gradient}` : '',
    lossWorst > tol.loss ? `loss at the same parameters: relative difference ${lossWorst} > ${tol.loss}` : '',
  ].filter(Boolean);
  const rep =
    (r.repeatability ? `, GPU rerun ${sci(r.repeatability.maxRelLossDiff)}` : '') +
    (r.sensitivity ? `, CPU from params ±1e-6 ${sci(r.sensitivity.maxRelLossDiff)}` : '');
  const placement = r.nodePlacement as Record<string, Record<string, number>> | null;
  const nodes = placement
    ? Object.entries(placement)
        .map(([p, ops]) => `${p.replace('ExecutionProvider', '')} ${Object.values(ops).reduce((a, b) => a + b, 0)}`)
        .join(', ')
    : 'n/a';
  const c = r.config;
  const details =
    `TF32 ${r.tf32}, ${c.preset}-${c.imageSize} b${c.batch}: ${c.steps}-step loss curves max rel diff ` +
    `${sci(r.vsCpu.maxRelLossDiff)} (step ${r.vsCpu.worstStep}; tol ${sci(tol.trajectory)})${rep}; ` +
    `same params: loss rel ${sci(lossWorst)} (tol ${sci(tol.loss)}), gradient rel L2 ${sci(gradWorst)} ` +
    `(tol ${sci(tol.gradient)}); nodes ${nodes}`;
  return { row: [name, problems.length === 0 ? 'ok' : 'FAIL', details], problems };
}

function trainDetails(r: Any): string {
  const t = r.transfer;
  return (
    `${r.config.preset}-${r.config.imageSize} b${r.config.batch}: K-step (K = ${r.kStep.k}) ` +
    `${fmt(r.kStep.msPerStep.median)} ms/step, one step per run ${fmt(r.stepMs.median)} ms/step ` +
    `(p10 ${fmt(r.stepMs.p10)}, p90 ${fmt(r.stepMs.p90)}), ${fmt(r.imagesPerS)} img/s, ` +
    `${fmt(r.tflopPerS, 2)} TFLOP/s; ` +
    `session ${fmt(r.sessionMs, 0)} ms, 1st step ${fmt(r.warmupMs[0], 0)} ms; copy probe ${fmt(t.probeMs.median)} ms ` +
    `(${fmt(100 * t.probeShare, 0)}% of a step, ${fmt((t.bytesInPerStep + t.bytesOutPerStep) / 1e6, 0)} MB)`
  );
}

function torchDetails(r: Any, train: Any): string {
  const ratio = train
    ? ` — onnxruntime K-step / PyTorch time ratio ${fmt(train.kStep.msPerStep.median / r.result.ms_median, 2)} ` +
      `(one step per run: ${fmt(train.stepMs.median / r.result.ms_median, 2)})`
    : '';
  const benchmark = r.device === 'cuda' ? ' (cudnn.benchmark)' : '';
  const speed = `${fmt(r.result.ms_median)} ms/step, ${fmt(r.result.images_per_s)} img/s`;
  return `torch ${r.torch.version} on ${r.device}${benchmark}: ${speed}${ratio}`;
}

/** gpu-check.md on the train step: ours (K-step, one step per run) against PyTorch, copies, TF32, top ops. */
function trainSection(meta: Any, train: Any, torch: Any, cfg: Config): string[] {
  const k = train.kStep;
  const peer = torch && !torch.skipped ? torch : null;
  const row = (runtime: string, device: string, ms: Any, imagesPerS: number, session: string, first: string) => [
    runtime,
    device,
    fmt(ms.median),
    fmt(ms.p10),
    fmt(ms.p90),
    fmt(imagesPerS),
    session,
    first,
  ];
  const ours = `onnxruntime-node ${meta.onnxruntime}`;
  const kFirst = `${fmt(k.warmupRunMs, 0)} (run)`;
  const stepFirst = fmt(train.warmupMs[0], 0);
  const rows = [
    row(`${ours}, K-step (K = ${k.k})`, cfg.ep, k.msPerStep, k.imagesPerS, fmt(k.sessionMs, 0), kFirst),
    row(`${ours}, one step per run`, cfg.ep, train.stepMs, train.imagesPerS, fmt(train.sessionMs, 0), stepFirst),
  ];
  if (peer) {
    const ms = { median: peer.result.ms_median, p10: peer.result.ms_p10, p90: peer.result.ms_p90 };
    rows.push(row(`PyTorch ${peer.torch.version}`, peer.device, ms, peer.result.images_per_s, '-', '-'));
  }
  const t = train.transfer;
  const header = ['runtime', 'device', 'ms/step median', 'p10', 'p90', 'images/s', 'session ms', 'first step ms'];
  return [
    '## Train step (fused forward + backward + Adam)',
    '',
    markdownTable(header, rows),
    '',
    `Per step ${fmt(t.bytesInPerStep / 1e6, 0)} MB go in and ${fmt(t.bytesOutPerStep / 1e6, 0)} MB come out ` +
      `(3 × ${train.config.parameters} float32 each way plus the batch). ` +
      `A graph with the same inputs and outputs and no work takes ${fmt(t.probeMs.median)} ms: ` +
      `about ${fmt(100 * t.probeShare, 0)}% of a step; compute ≈ ${fmt(t.computeMsEstimate)} ms. ` +
      `The K-step model moves the state once per ${k.k} steps.`,
    '',
    "TF32: onnxruntime's CUDA provider uses TF32 for convolutions and GEMMs by default " +
      '(onnxruntime-node has no option for it); ' +
      (peer
        ? `PyTorch: convolutions ${peer.result.tf32_conv ? 'TF32' : 'FP32'}, ` +
          `matmuls ${peer.result.tf32_matmul ? 'TF32' : 'FP32'} (its defaults), cudnn.benchmark on.`
        : 'PyTorch did not run.'),
    '',
    `Top op types by kernel time in one profiled K-step run (${fmt(k.profiledRunMs, 0)} ms for ${k.k} steps; ` +
      "on CUDA the host-side time of each node's compute call, which includes waits for the GPU):",
    '',
    markdownTable(
      ['op', 'ms', 'share'],
      k.topOps.map((o: Any) => [o.op, fmt(o.ms, 1), `${fmt(100 * o.share, 1)}%`]),
    ),
    '',
  ];
}

/** gpu-check.md's section of a parity phase: nodes placed on the CPU, loss per step of every run. */
function paritySection(name: string, r: Any, cfg: Config): string[] {
  const out: string[] = [];
  const cpuOps = r.nodePlacement?.CPUExecutionProvider as Record<string, number> | undefined;
  const onCpu =
    cfg.ep !== 'cpu' && cpuOps
      ? Object.entries(cpuOps)
          .map(([op, n]) => `${op} ×${n}`)
          .join(', ')
      : null;
  if (onCpu) out.push(`Nodes that onnxruntime placed on the CPU in the ${cfg.ep} session (${name}): ${onCpu}.`, '');
  const runs = r.trajectories as Any[];
  const rows = runs[0].losses.map((_: number, i: number) => [
    String(i + 1),
    ...runs.map((t) => String(t.losses[i])),
    String(r.vsCpu.relLossDiffPerStep[i]),
  ]);
  const header = ['step', ...runs.map((t) => t.ep), 'rel diff'];
  out.push(`## ${name}: loss per step (TF32 ${r.tf32})`, '', markdownTable(header, rows), '');
  return out;
}

/** gpu-check.md, the summary table for stdout, and the failures (a failed phase, a parity phase out of tolerance). */
export function report(
  meta: Any,
  phases: Record<string, PhaseOutcome>,
  cfg: Config,
): { md: string; summary: string; failures: string[] } {
  const rows: string[][] = [];
  const failures: string[] = [];
  for (const name of Object.keys(phases)) {
    const o = phases[name]!;
    if (!o.ok) {
      const why = (o.error ?? '').replace(/\s*\n\s*/g, ' ').trim();
      const hint = /load|library/i.test(why) ? ' (the library that failed to load is named in gpu-check.log)' : '';
      const skipped = why.startsWith('skipped');
      rows.push([name, skipped ? 'skipped' : 'FAILED', `${why.slice(0, 200)}${hint}`]);
      // A phase skipped after a failed smoke test is not counted again; one skipped for time is.
      if (!skipped || why.includes('budget')) failures.push(`${name}: ${why}`);
      continue;
    }
    if (name === 'smoke') {
      const s = o.result as Any;
      const session = `session ${fmt(s?.sessionMs, 0)} ms`;
      rows.push([name, 'ok', `Conv+Relu on ${cfg.ep}: ${session}, max abs diff vs CPU ${s.maxAbsDiffVsCpu}`]);
      continue;
    }
    const r = o.result as Any;
    if (name.startsWith('parity')) {
      const { row, problems } = parityRow(name, r, cfg);
      for (const x of problems) failures.push(`${name}: ${x}`);
      rows.push(row);
    } else if (name === 'train') {
      rows.push([name, 'ok', trainDetails(r)]);
    } else if (name === 'convgrad') {
      const picks = r.cases.map((c: Any) => {
        const builder = c.fastest === c.chosen ? '' : ` (builder: ${c.chosen})`;
        return `${c.shape.c}→${c.shape.m} ${c.shape.h}²: ${c.fastest}${builder}`;
      });
      rows.push([name, 'ok', `fastest dW formulation per shape on ${r.ep}: ${picks.join('; ')}`]);
    } else if (name === 'mc') {
      const cases = r.cases.map(
        (c: Any) =>
          `b${c.batch} N=${c.samples}: ${fmt(c.latencyMs.median, 2)} ms ` +
          `(${fmt(c.imagesPerS)} img/s, session ${fmt(c.sessionMs, 0)} ms)`,
      );
      rows.push([name, 'ok', cases.join('; ')]);
    } else if (name === 'torch') {
      if (r.skipped) rows.push([name, 'skipped', r.skipped]);
      else rows.push([name, 'ok', torchDetails(r, phases.train?.ok ? (phases.train.result as Any) : null)]);
    }
  }
  const gpu = Array.isArray(meta.gpu)
    ? meta.gpu.map((g: Any) => `${g.name} (driver ${g.driver}, ${g.memoryTotal}, sm ${g.computeCap})`).join('; ')
    : meta.gpu.error;
  const head = [
    `# GPU check (${cfg.ep}${cfg.quick ? ', quick' : ''})`,
    '',
    `- commit ${meta.commit ?? 'unknown'}, kit built ${meta.built ?? 'n/a'}, ${meta.date}`,
    `- GPU: ${gpu}`,
    `- onnxruntime-node ${meta.onnxruntime}, node ${meta.node}, torch ${meta.torch ?? 'n/a'}`,
    `- host: ${meta.host.cpu} x ${meta.host.cpus}, ${meta.host.os}`,
    '',
  ];
  const md = [...head, markdownTable(['phase', 'result', 'details'], rows), ''];
  const train = phases.train?.ok ? (phases.train.result as Any) : null;
  const torch = phases.torch?.ok ? (phases.torch.result as Any) : null;
  if (train) md.push(...trainSection(meta, train, torch, cfg));
  const convgrad = phases.convgrad?.ok ? (phases.convgrad.result as Any) : null;
  if (convgrad) {
    md.push('## Conv weight-gradient formulations', '', '```', convGradReport(convgrad).trimEnd(), '```', '');
  }
  for (const name of ['parity', 'parity-tf32']) {
    const p = phases[name];
    if (p?.ok) md.push(...paritySection(name, p.result as Any, cfg));
  }
  const summary = `${markdownTable(['phase', 'result', 'details'], rows)}\n`;
  return { md: md.join('\n'), summary, failures };
}
