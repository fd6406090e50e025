/**
 * Prediction-service load test on loopback: the server with the small preset (128²) model, a fixed
 * number of POST /api/predict requests with a bounded number in flight, latency percentiles and
 * failures. Bounded in count and time, loopback only.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { buildInferenceModel, presetConfig } from '../graphBuilder/models.js';
import { serialize } from '../graphBuilder/serialize.js';
import { startServer } from '../serve/server.js';
import { syntheticSample } from '../training/synthetic.js';
import { round, stats, table } from './benchUtil.js';
import { progress } from './cli.js';

export interface ServeBench {
  requests: number;
  concurrency: number;
  image: string;
  failures: number;
  statuses: Record<string, number>;
  latencyMs: { p50: number; p99: number; max: number };
  requestsPerS: number;
}

function post(url: string, body: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'image/png', 'content-length': body.length }, timeout: 30_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end(body);
  });
}

export async function benchServe(requests: number, concurrency: number): Promise<ServeBench> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-serve-'));
  const model = join(dir, 'model.onnx');
  writeFileSync(model, serialize(buildInferenceModel(presetConfig('small'))));
  const server = await startServer({ modelPath: model, port: 0, mcSamples: 0 });
  // A CVC-ClinicDB-sized frame (384×288): the server decodes and resizes it, as for real uploads.
  const s = syntheticSample(0, 288, 7);
  const png = await sharp(Buffer.from(s.image), { raw: { width: 288, height: 288, channels: 3 } }).resize(384, 288, { fit: 'fill' }).png().toBuffer();
  const url = `${server.url.replace(/\/$/, '')}/api/predict`;
  progress(`serve: ${requests} POST /api/predict, ${concurrency} in flight, ${url}`);
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        next++;
        const t = performance.now();
        const status = await post(url, png);
        latencies.push(performance.now() - t);
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await server.close();
  rmSync(dir, { recursive: true, force: true });
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    requests,
    concurrency,
    image: '384×288 PNG, small preset model (128²)',
    failures: requests - (statuses['200'] ?? 0),
    statuses,
    latencyMs: { p50: round(stats(latencies).median, 1), p99: round(sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]!, 1), max: round(sorted.at(-1)!, 1) },
    requestsPerS: round(requests / seconds, 1),
  };
}

export function serveReport(b: ServeBench): string {
  return `Prediction service load test (loopback, ${b.image})\n${table(
    ['requests', 'in flight', 'failures', 'p50 ms', 'p99 ms', 'max ms', 'requests/s'],
    [[String(b.requests), String(b.concurrency), String(b.failures), String(b.latencyMs.p50), String(b.latencyMs.p99), String(b.latencyMs.max), String(b.requestsPerS)]],
  )}\n`;
}
