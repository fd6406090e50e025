/**
 * The browser demo end to end in headless Chromium (playwright-core, system Chromium): load the
 * page, click a sample, and compare the browser's probability map (onnxruntime-web) with
 * onnxruntime-node on the exact input the page used.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { Browser } from 'playwright-core';
import { CHROMIUM_PATH, haveChromium, launchChromium } from '../../src/serve/chromium.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../src/serve/server.js';
import { tinyModel } from './helpers.js';

const haveChrome = haveChromium();

let s: RunningServer;
let browser: Browser;
let modelPath: string;

beforeAll(async () => {
  if (!haveChrome) return;
  modelPath = tinyModel();
  s = await startServer({ modelPath, port: 0 });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await s?.close();
});

interface LastResult {
  provider: string;
  size: number;
  input: number[];
  probability: number[];
  uncertainty: number[] | null;
}

describe.skipIf(!haveChrome)(`browser demo (${CHROMIUM_PATH})`, () => {
  it('segments a sample in the browser like onnxruntime-node does', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(r.url()));
    await page.goto(s.url);
    await page.waitForSelector('#status[data-state="ready"], #status[data-state="error"]', { timeout: 30_000 });
    expect(await page.textContent('#status')).toMatch(/^Ready/);
    await page.click('#sample-1');
    await page.waitForFunction(
      () =>
        (window as unknown as { lastResult: unknown }).lastResult !== null ||
        document.querySelector('#status')?.getAttribute('data-state') === 'error',
      undefined,
      { timeout: 30_000 },
    );
    const r = (await page.evaluate(() => (window as unknown as { lastResult: unknown }).lastResult)) as LastResult;
    expect(r, (await page.textContent('#status')) ?? '').not.toBeNull();
    expect(['wasm', 'webgpu']).toContain(r.provider);
    expect(await page.textContent('#provider')).toMatch(new RegExp(`^${r.provider}`));
    // Cross-origin isolated (COOP/COEP from the server): wasm threads on every core.
    const demo = (await page.evaluate(() => (window as unknown as { demo: unknown }).demo)) as {
      isolated: boolean;
      threads: number;
    };
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    expect(demo.isolated).toBe(true);
    expect(demo.threads).toBe(Math.min(16, cores));
    expect(r.size).toBe(32);
    expect(r.input).toHaveLength(3 * 32 * 32);
    expect(r.probability).toHaveLength(32 * 32);

    const session = await ort.InferenceSession.create(readFileSync(modelPath));
    const out = await session.run({ image: new ort.Tensor('float32', Float32Array.from(r.input), [1, 3, 32, 32]) });
    const node = out.probability!.data as Float32Array;
    let maxDiff = 0;
    for (let i = 0; i < node.length; i++) maxDiff = Math.max(maxDiff, Math.abs(node[i]! - r.probability[i]!));
    expect(maxDiff).toBeLessThan(1e-3);

    // MC-Dropout: the uncertainty map is there, finite, std of probabilities (≤ 0.5), not all zero at p = 0.5.
    expect(r.uncertainty).toHaveLength(32 * 32);
    expect(r.uncertainty!.every((v) => Number.isFinite(v) && v >= 0 && v <= 0.5)).toBe(true);
    expect(Math.max(...r.uncertainty!)).toBeGreaterThan(0);

    expect(errors).toEqual([]);
    expect(failed).toEqual([]);
    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/serve.png', fullPage: true });
    await page.close();
  });
});
