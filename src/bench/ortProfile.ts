/** Reading onnxruntime's profile files (enableProfiling): the kernel events of the last session run. */

export interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string };
}

export interface KernelTime {
  /** Op type, and the node's name as onnxruntime reports it (fused nodes get new names). */
  op: string;
  node: string;
  us: number;
}

/**
 * The `*_kernel_time` events inside the last `model_run` of a profile (nodes of Loop bodies
 * included). On CUDA this is the host-side time of each node's compute call: kernels are launched
 * asynchronously, so a node shows GPU time only where it waits for the device.
 */
export function lastRunKernels(events: readonly ProfileEvent[]): { run: ProfileEvent; kernels: KernelTime[] } {
  const run = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').at(-1);
  if (!run) throw new Error('the profile has no model_run event');
  const kernels = events
    .filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= run.ts && e.ts <= run.ts + run.dur)
    .map((e) => ({ op: e.args?.op_name ?? '?', node: e.name.slice(0, -'_kernel_time'.length), us: e.dur }));
  return { run, kernels };
}

/** Kernel time by op type, largest first, with each type's share of the total. */
export function byOpType(kernels: readonly KernelTime[]): { op: string; ms: number; share: number }[] {
  const total = kernels.reduce((a, k) => a + k.us, 0);
  const us = new Map<string, number>();
  for (const k of kernels) us.set(k.op, (us.get(k.op) ?? 0) + k.us);
  return [...us.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([op, t]) => ({ op, ms: Number((t / 1000).toFixed(2)), share: Number((t / total).toFixed(4)) }));
}
