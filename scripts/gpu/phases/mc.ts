/** GPU check phase `mc`: MC-Dropout inference (N samples in one run) on the provider, per batch size. */
import * as ort from 'onnxruntime-node';
import { round } from '../../../src/common/stats.js';
import { convFlops } from '../../../src/graphBuilder/flops.js';
import { INPUT, OUTPUT } from '../../../src/graphBuilder/graphIO.js';
import { buildMcModel } from '../../../src/graphBuilder/models.js';
import { serialize } from '../../../src/graphBuilder/serialize.js';
import type { Config } from '../config.js';
import { checkFinite, configFor, now, progress, randomBatch, timingStats } from './shared.js';

export async function phaseMc(cfg: Config) {
  const m = cfg.mc;
  const cases = [];
  for (const batch of m.batches) {
    const c = configFor(m.preset, m.size, batch, { samples: m.samples });
    const t0 = now();
    const g = buildMcModel(c);
    const model = serialize(g);
    const t1 = now();
    const session = await ort.InferenceSession.create(model, {
      executionProviders: [cfg.ep],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
    });
    const t2 = now();
    const image = randomBatch(c, 11).image;
    const feeds = {
      [INPUT.image]: new ort.Tensor('float32', image, [batch, 3, m.size, m.size]),
      [INPUT.dropoutRatio]: new ort.Tensor('float32', Float32Array.of(c.unet.dropout.p), []),
    };
    const warm: number[] = [];
    for (let i = 0; i < m.warmup; i++) {
      const s = now();
      await session.run(feeds);
      warm.push(now() - s);
    }
    const times: number[] = [];
    let last: Float32Array | null = null;
    for (let i = 0; i < m.runs; i++) {
      const s = now();
      const out = await session.run(feeds);
      times.push(now() - s);
      last = out[OUTPUT.samples]!.data as Float32Array;
    }
    await session.release();
    if (last) {
      checkFinite('MC samples', last);
      if (last.some((x) => x < 0 || x > 1)) throw new Error('MC samples outside [0, 1]');
    }
    const st = timingStats(times);
    const flops = convFlops(g).total;
    const sessionMs = (t2 - t1).toFixed(0);
    progress(`mc: batch ${batch} N=${m.samples}: session ${sessionMs} ms, median ${st.median.toFixed(2)} ms/run`);
    cases.push({
      batch,
      samples: m.samples,
      dropoutRatio: c.unet.dropout.p,
      buildMs: round(t1 - t0, 1),
      sessionMs: round(t2 - t1, 1),
      warmupMs: warm.map((x) => round(x, 1)),
      latencyMs: st,
      imagesPerS: round((batch * 1000) / st.median, 2),
      samplesPerS: round((batch * m.samples * 1000) / st.median, 1),
      convFlopsPerRun: flops,
      tflopPerS: round(flops / (st.median * 1e-3) / 1e12, 2),
    });
  }
  return { preset: m.preset, imageSize: m.size, cases };
}
