/**
 * The machine that measured numbers come from: host (OS, CPU, memory), onnxruntime and Node
 * versions, git commit, load from other processes while measuring, NVIDIA GPUs (nvidia-smi).
 * Recorded by the bench, the study's results and the GPU check. In runtime/ because it reports
 * onnxruntime's version.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { env as ortEnv } from 'onnxruntime-node';
import { round } from '../common/stats.js';

/** Output of `git ARGS` in the current folder, trimmed; null when git fails or is missing. */
export function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** The host: OS with release and architecture, CPU model and count, total memory (GiB, 1 decimal). */
export function hostDescription(): { os: string; cpuModel: string; cpuCount: number; totalMemoryGiB: number } {
  const cpus = os.cpus();
  return {
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpuCount: cpus.length,
    totalMemoryGiB: round(os.totalmem() / 2 ** 30, 1),
  };
}

/** Host, Node, onnxruntime, git commit (and whether tracked files differ from it), current load. */
export function machineInfo() {
  const host = hostDescription();
  const commit = git(['rev-parse', '--short', 'HEAD']);
  const status = commit === null ? null : git(['status', '--porcelain', '--untracked-files=no']);
  return {
    os: host.os,
    cpuModel: host.cpuModel,
    cpuCount: host.cpuCount,
    availableParallelism: os.availableParallelism(),
    totalMemoryGiB: host.totalMemoryGiB,
    node: process.version,
    onnxruntime: ortEnv.versions.node ?? ortEnv.versions.common,
    gitCommit: commit,
    gitDirty: status === null ? null : status.length > 0,
    /** 1-minute load average when the bench started: other work on the machine skews the timings. */
    loadAverageAtStart: round(os.loadavg()[0]!, 2),
  };
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

export interface GpuDescription {
  name: string;
  driver: string;
  memoryTotal: string;
  computeCap: string;
}

/** The NVIDIA GPUs as nvidia-smi lists them, or why it could not. */
export function gpuInfo(): GpuDescription[] | { error: string } {
  try {
    const query = ['--query-gpu=name,driver_version,memory.total,compute_cap', '--format=csv,noheader'];
    const out = execFileSync('nvidia-smi', query, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 20_000,
    });
    return out
      .trim()
      .split('\n')
      .map((l) => {
        const [name, driver, memoryTotal, computeCap] = l.split(',').map((s) => s.trim());
        return { name: name ?? '', driver: driver ?? '', memoryTotal: memoryTotal ?? '', computeCap: computeCap ?? '' };
      });
  } catch (e) {
    return { error: `nvidia-smi: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** GPU memory in use on the first GPU (MiB, nvidia-smi), or null. */
export function gpuMemoryUsedMiB(): number | null {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    });
    return Number(out.trim().split('\n')[0]);
  } catch {
    return null;
  }
}
