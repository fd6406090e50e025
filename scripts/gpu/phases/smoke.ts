/** GPU check phase `smoke`: a convolution on the provider and on the CPU — does the provider load, does cuDNN run? */
import * as ort from 'onnxruntime-node';
import { prng } from '../../../src/common/prng.js';
import { round } from '../../../src/common/stats.js';
import { addInput, addOutput, createGraph, op1 } from '../../../src/graphBuilder/graph.js';
import { serialize } from '../../../src/graphBuilder/serialize.js';
import { type ExecutionProvider, createSession } from '../../../src/runtime/runtime.js';
import type { Config } from '../config.js';
import { now, progress } from './shared.js';

export async function phaseSmoke(cfg: Config) {
  const g = createGraph('smoke');
  const x = addInput(g, 'x', 'float32', [2, 3, 16, 16]);
  const w = addInput(g, 'w', 'float32', [8, 3, 3, 3]);
  addOutput(g, 'y', op1(g, 'Relu', [op1(g, 'Conv', [x, w], { pads: [1, 1, 1, 1] })]));
  const model = serialize(g);
  const r = prng(3);
  const xs = Float32Array.from({ length: 2 * 3 * 16 * 16 }, () => r.next() - 0.5);
  const ws = Float32Array.from({ length: 8 * 3 * 3 * 3 }, () => r.next() - 0.5);
  const feeds = { x: new ort.Tensor('float32', xs, [2, 3, 16, 16]), w: new ort.Tensor('float32', ws, [8, 3, 3, 3]) };
  const run = async (ep: ExecutionProvider) => {
    const t0 = now();
    const session = await createSession(model, { providers: [ep] });
    const t1 = now();
    const y = (await session.run(feeds)).y!.data as Float32Array;
    const t2 = now();
    await session.release();
    return { y, sessionMs: round(t1 - t0, 1), firstRunMs: round(t2 - t1, 1) };
  };
  const cpu = await run('cpu');
  const dev = await run(cfg.ep);
  let maxAbs = 0;
  for (let i = 0; i < cpu.y.length; i++) maxAbs = Math.max(maxAbs, Math.abs(cpu.y[i]! - dev.y[i]!));
  const startUp = cfg.ep === 'cpu' ? '' : ' (the first: provider and CUDA start-up)';
  progress(
    `smoke: Conv+Relu on ${cfg.ep}: session ${dev.sessionMs} ms${startUp}, first run ${dev.firstRunMs} ms, ` +
      `max |diff| vs CPU ${maxAbs.toExponential(2)}`,
  );
  if (!(maxAbs < 1e-2)) throw new Error(`Conv on ${cfg.ep} differs from the CPU by ${maxAbs}`);
  return { sessionMs: dev.sessionMs, firstRunMs: dev.firstRunMs, maxAbsDiffVsCpu: Number(maxAbs.toExponential(3)) };
}
