/**
 * The page's inference speed (`npm run bench -- --only browser`): the demo page itself, served by
 * `npm run serve`'s server (cross-origin isolated), in headless Chromium, against onnxruntime-node on
 * the same model in this process. Per preset (small 128², paper 224²; batch 1, untrained weights):
 *   wasm, 1 thread       what a page without COOP/COEP gets;
 *   wasm, N threads      the page as served (N = the browser's hardwareConcurrency, at most 16);
 *   webgpu               the WebGPU adapter Chromium offers (SwiftShader, a CPU emulation, on a machine
 *                        without a GPU: a correctness check more than a speed; SLOW_RUNS runs);
 *   node                 onnxruntime-node's session.run, default session options (one thread per core);
 *   node-1-thread        the same on one thread: the like-for-like CPU time of the 1-thread page.
 * Each browser case times the page's own session.run (window.lastResult.ms) over `runs` predictions
 * of a sample after WARMUP; the first prediction is reported apart (it includes kernel set-up).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { prng } from '../common/prng.js';
import { INPUT } from '../graphBuilder/graphIO.js';
import { type PresetName, buildInferenceModel, presetConfig } from '../graphBuilder/models.js';
import { serialize } from '../graphBuilder/serialize.js';
import { CHROMIUM_PATH, haveChromium, launchChromium } from '../serve/chromium.js';
import { startServer } from '../serve/server.js';
import { type SummaryStats, round, summaryStats } from '../common/stats.js';
import { textTable } from '../common/table.js';
import { progress } from '../common/progress.js';

const WARMUP = 3;
/** WebGPU on SwiftShader (CPU emulation) takes seconds per 128² run and minutes at 224²: fewer runs. */
const SLOW_WARMUP = 1;
const SLOW_RUNS = 3;

export type BrowserConfig = 'wasm-1-thread' | 'wasm-threads' | 'webgpu' | 'node' | 'node-1-thread';

export interface BrowserCase {
  preset: PresetName;
  imageSize: number;
  config: BrowserConfig;
  /** wasm threads (browser) or intra-op threads (node, 0 = onnxruntime's default: one per core). */
  threads: number | null;
  /** The page was cross-origin isolated (browser cases). */
  isolated: boolean | null;
  runs: number;
  firstMs: number | null;
  latencyMs: SummaryStats | null;
  /** Median of this case over Node's median. */
  overNode: number | null;
  /** Why the case has no numbers (e.g. WebGPU unavailable). */
  error?: string;
}

export interface BrowserBench {
  chromium: string;
  browserVersion: string | null;
  webgpuAdapter: Record<string, unknown> | null;
  hardwareConcurrency: number | null;
  cases: BrowserCase[];
}

interface PageDemo {
  threads: number;
  isolated: boolean;
}

async function nodeCase(
  model: Uint8Array,
  size: number,
  runs: number,
  threads: number,
): Promise<{ first: number; times: number[] }> {
  const session = await InferenceSession.create(model, {
    graphOptimizationLevel: 'all',
    ...(threads ? { intraOpNumThreads: threads } : {}),
  });
  const r = prng(7);
  const input = new Tensor(
    'float32',
    Float32Array.from({ length: 3 * size * size }, () => r.next()),
    [1, 3, size, size],
  );
  const times: number[] = [];
  for (let i = 0; i < WARMUP + runs; i++) {
    const t = performance.now();
    await session.run({ [INPUT.image]: input });
    times.push(performance.now() - t);
  }
  await session.release();
  return { first: times[0]!, times: times.slice(WARMUP) };
}

export async function benchBrowser(
  presets: readonly PresetName[],
  runs: number,
): Promise<BrowserBench | { skipped: string }> {
  if (!haveChromium()) return { skipped: `no Chromium at ${CHROMIUM_PATH} (set CHROME_PATH, or run npm run setup)` };
  const dir = mkdtempSync(join(os.tmpdir(), 'bench-browser-'));
  const browser = await launchChromium();
  const cases: BrowserCase[] = [];
  let adapter: Record<string, unknown> | null = null;
  let hardwareConcurrency: number | null = null;
  try {
    for (const preset of presets) {
      const config = presetConfig(preset);
      const size = config.imageSize;
      const bytes = serialize(buildInferenceModel(config));
      const modelPath = join(dir, `${preset}.onnx`);
      writeFileSync(modelPath, bytes);
      progress(`browser: ${preset} (${size}²): onnxruntime-node, ${WARMUP} + ${runs} runs`);
      const node = await nodeCase(bytes, size, runs, 0);
      const nodeStats = summaryStats(node.times);
      cases.push({
        preset,
        imageSize: size,
        config: 'node',
        threads: 0,
        isolated: null,
        runs,
        firstMs: round(node.first, 1),
        latencyMs: nodeStats,
        overNode: 1,
      });
      const node1 = await nodeCase(bytes, size, runs, 1);
      const node1Stats = summaryStats(node1.times);
      cases.push({
        preset,
        imageSize: size,
        config: 'node-1-thread',
        threads: 1,
        isolated: null,
        runs,
        firstMs: round(node1.first, 1),
        latencyMs: node1Stats,
        overNode: round(node1Stats.median / nodeStats.median, 2),
      });
      const server = await startServer({ modelPath, port: 0, mcSamples: 0 });
      try {
        for (const [name, query] of [
          ['wasm-1-thread', 'provider=wasm&threads=1'],
          ['wasm-threads', 'provider=wasm'],
          ['webgpu', 'provider=webgpu'],
        ] as const) {
          const [warm, n] = name === 'webgpu' ? [SLOW_WARMUP, Math.min(runs, SLOW_RUNS)] : [WARMUP, runs];
          progress(`browser: ${preset} (${size}²): ${name}, ${warm} + ${n} predictions in the page`);
          const page = await browser.newPage();
          try {
            await page.goto(`${server.url}?${query}`);
            await page.waitForSelector('#status[data-state="ready"], #status[data-state="error"]', {
              timeout: 120_000,
            });
            const state = await page.getAttribute('#status', 'data-state');
            if (state !== 'ready') throw new Error((await page.textContent('#status')) ?? 'the page did not start');
            const demo = (await page.evaluate(() => (window as unknown as { demo: unknown }).demo)) as PageDemo;
            hardwareConcurrency ??= await page.evaluate(() => navigator.hardwareConcurrency);
            if (name === 'webgpu' && !adapter) {
              adapter = await page.evaluate(async () => {
                const a = await (
                  navigator as unknown as {
                    gpu?: {
                      requestAdapter(): Promise<{ info?: Record<string, unknown>; isFallbackAdapter?: boolean } | null>;
                    };
                  }
                ).gpu?.requestAdapter();
                if (!a) return null;
                const i = a.info ?? {};
                return {
                  vendor: i.vendor,
                  architecture: i.architecture,
                  device: i.device,
                  description: i.description,
                  isFallbackAdapter: a.isFallbackAdapter,
                };
              });
            }
            const times = await page.evaluate(async (n) => {
              const w = window as unknown as { demo: { predictSample(i: number): Promise<{ ms: number }> } };
              const out: number[] = [];
              for (let i = 0; i < n; i++) out.push((await w.demo.predictSample(0)).ms);
              return out;
            }, warm + n);
            const s = summaryStats(times.slice(warm));
            cases.push({
              preset,
              imageSize: size,
              config: name,
              threads: name === 'webgpu' ? null : demo.threads,
              isolated: demo.isolated,
              runs: n,
              firstMs: round(times[0]!, 1),
              latencyMs: s,
              overNode: round(s.median / nodeStats.median, 2),
            });
          } catch (e) {
            cases.push({
              preset,
              imageSize: size,
              config: name,
              threads: null,
              isolated: null,
              runs: 0,
              firstMs: null,
              latencyMs: null,
              overNode: null,
              error: (e as Error).message,
            });
          } finally {
            await page.close();
          }
        }
      } finally {
        await server.close();
      }
    }
    return {
      chromium: CHROMIUM_PATH,
      browserVersion: browser.version(),
      webgpuAdapter: adapter,
      hardwareConcurrency,
      cases,
    };
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function browserReport(b: BrowserBench | { skipped: string }): string {
  if ('skipped' in b) return `Browser (onnxruntime-web in headless Chromium): skipped: ${b.skipped}\n`;
  const adapter = b.webgpuAdapter ? `${b.webgpuAdapter.vendor}/${b.webgpuAdapter.architecture}` : 'none';
  const rows = b.cases.map((c) => [
    `${c.preset} ${c.imageSize}²`,
    c.config,
    c.threads === null ? '-' : c.threads === 0 ? 'default' : String(c.threads),
    c.latencyMs ? String(round(c.latencyMs.median, 1)) : c.error ? `error: ${c.error.slice(0, 60)}` : '-',
    c.latencyMs ? `${round(c.latencyMs.p10, 1)}–${round(c.latencyMs.p90, 1)}` : '-',
    c.firstMs === null ? '-' : String(c.firstMs),
    c.overNode === null ? '-' : `${c.overNode}×`,
  ]);
  const title =
    `Browser inference, batch 1 (${b.browserVersion ?? 'Chromium'}, headless, ` +
    `${b.hardwareConcurrency} logical cores; WebGPU adapter: ${adapter}); the page's session.run`;
  const header = ['model', 'runtime', 'threads', 'median ms', 'p10–p90 ms', 'first ms', 'vs node'];
  return `${title}\n${textTable(header, rows)}\n`;
}
