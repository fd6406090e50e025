/**
 * One GPU check phase in its own child process (a crash or a hang in one does not lose the others,
 * and GPU memory is returned between them): its outcome, time limit and onnxruntime's error lines.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { round } from '../../src/common/stats.js';
import type { PhaseName } from './config.js';
import { now } from './phases/shared.js';

export interface PhaseOutcome {
  ok: boolean;
  seconds: number;
  result?: unknown;
  error?: string;
}

/** onnxruntime's own error lines (its logger writes them to stderr, the JS error only says "failed"). */
const ortErrors = (stderr: string): string[] =>
  stderr
    .split('\n')
    .filter((l) => /\[E:onnxruntime|\[F:onnxruntime|CUDA failure|cudaError|CUDNN_STATUS|no kernel image/i.test(l))
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the ANSI colour codes of onnxruntime's log
    .map((l) => l.replace(/\x1b\[[0-9;]*m/g, '').trim())
    .slice(-5);

/**
 * Run one phase of the entry script `self` (gpu-check.ts under tsx, or the bundle) in a child
 * process; its stderr streams through and its onnxruntime errors are kept.
 */
export async function runChild(
  self: string,
  name: PhaseName,
  argv: string[],
  workDir: string,
  timeoutS: number,
  extraEnv: Record<string, string>,
): Promise<PhaseOutcome & { ortErrors?: string[] }> {
  const resultFile = join(workDir, `phase-${name}.json`);
  rmSync(resultFile, { force: true });
  // Under tsx the entry is a .ts file: re-run through the same loader.
  const args = [...process.execArgv, self, ...argv, '--phase', name, '--result', resultFile];
  const t0 = now();
  const env = { ...process.env, ...extraEnv };
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'pipe'], env });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    process.stderr.write(chunk);
    stderr = (stderr + chunk.toString('utf8')).slice(-200_000);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutS * 1000);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.on('close', (c, sg) => done({ code: c, signal: sg })),
  );
  clearTimeout(timer);
  const seconds = round((now() - t0) / 1000, 1);
  const errs = ortErrors(stderr);
  const extra = errs.length ? { ortErrors: errs } : {};
  const ortSaid = errs.length ? `; onnxruntime said: ${errs[errs.length - 1]}` : '';
  if (timedOut) {
    const error = `timed out after ${timeoutS} s (GPU_CHECK_PHASE_TIMEOUT_S, GPU_CHECK_BUDGET_S)`;
    return { ok: false, seconds, error, ...extra };
  }
  if (existsSync(resultFile)) {
    const parsed = JSON.parse(readFileSync(resultFile, 'utf8')) as PhaseOutcome;
    if (!parsed.ok && errs.length) parsed.error = `${parsed.error}${ortSaid}`;
    return { ...parsed, seconds, ...extra };
  }
  const why = signal ? `killed by ${signal}` : `exited with ${code} without a result`;
  return { ok: false, seconds, error: `${why}${ortSaid}`, ...extra };
}
