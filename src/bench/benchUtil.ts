/** Measurement helpers shared by the benchmarks: statistics, machine description, tables. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { env as ortEnv } from 'onnxruntime-node';

export interface Stats {
  median: number;
  p10: number;
  p90: number;
  mean: number;
  min: number;
  max: number;
}

/** Busy CPU time of the whole machine in seconds (Linux /proc/stat), or null. */
function machineBusyS(): number | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...: all but idle and iowait are busy
    const busy = f.reduce((a, x, i) => (i === 3 || i === 4 || i > 7 ? a : a + x), 0);
    return busy / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** Starts a meter; calling the result gives the average cores used by other processes since. */
export function otherCpuMeter(): () => number | null {
  const busy0 = machineBusyS();
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const busy1 = machineBusyS();
    if (busy0 === null || busy1 === null) return null;
    const own = process.cpuUsage(own0);
    const wallS = (performance.now() - t0) / 1000;
    return Math.max(0, (busy1 - busy0 - (own.user + own.system) / 1e6) / wallS);
  };
}

/** Linear-interpolation percentile (numpy's default) of sorted values. */
export function percentile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function stats(xs: readonly number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  return {
    median: percentile(s, 0.5),
    p10: percentile(s, 0.1),
    p90: percentile(s, 0.9),
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    min: s[0]!,
    max: s[s.length - 1]!,
  };
}

export const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

export function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export function machineInfo() {
  const cpus = os.cpus();
  const commit = git(['rev-parse', '--short', 'HEAD']);
  const status = commit === null ? null : git(['status', '--porcelain', '--untracked-files=no']);
  return {
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpuCount: cpus.length,
    availableParallelism: os.availableParallelism(),
    totalMemoryGiB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    onnxruntime: ortEnv.versions.node ?? ortEnv.versions.common,
    gitCommit: commit,
    gitDirty: status === null ? null : status.length > 0,
    /** 1-minute load average when the bench started: other work on the machine skews the timings. */
    loadAverageAtStart: round(os.loadavg()[0]!, 2),
  };
}


export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export const fmtMs = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

