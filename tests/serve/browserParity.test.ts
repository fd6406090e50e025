/**
 * Same numbers in Node and in the browser on real frames: the page (onnxruntime-web, the page's own
 * decode and the one preprocessing served as /lib/preprocess.js) against `npm run predict`'s path
 * (sharp decode, src/data/preprocess.ts, onnxruntime-node), with a model trained on CVC-ClinicDB, on
 * frames of several sizes and formats: a CVC 384×288 PNG and Kvasir-SEG JPEGs (619×529 to 1348×1070).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Browser } from 'playwright-core';
import { haveChromium, launchChromium } from '../../src/serve/chromium.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPredictor, planarInput, predictBytes, type Predictor } from '../../src/serve/predictNode.js';
import { type RunningServer, startServer } from '../../src/serve/server.js';
import { CVC_DIR, KVASIR_SAMPLE_DIR, haveCvc, trainedCvcModel } from '../fixtures/trainedModel.js';

const ready = haveChromium() && haveCvc && existsSync(KVASIR_SAMPLE_DIR);

let s: RunningServer;
let browser: Browser;
let predictor: Predictor;

beforeAll(async () => {
  if (!ready) return;
  const model = trainedCvcModel();
  predictor = await loadPredictor(model);
  s = await startServer({ modelPath: model, port: 0, mcSamples: 0 });
  browser = await launchChromium();
}, 600_000);
afterAll(async () => {
  await browser?.close();
  await s?.close();
});

interface PageResult {
  label: string;
  width: number;
  height: number;
  input: number[];
  probability: number[];
}

const frames = (): string[] => [
  join(CVC_DIR, 'images', '1.png'),
  join(CVC_DIR, 'images', '150.png'),
  ...readdirSync(join(KVASIR_SAMPLE_DIR, 'images')).map((f) => join(KVASIR_SAMPLE_DIR, 'images', f)),
];

describe.skipIf(!ready)('browser and Node give the same numbers on real frames', () => {
  it.each(['wasm', 'webgpu'])(
    'same input tensor and probabilities within 1e-3, CVC PNG and Kvasir JPEG (%s)',
    async (provider) => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`${s.url}?provider=${provider}`);
      await page.waitForSelector('#status[data-state="ready"], #status[data-state="error"]', { timeout: 60_000 });
      expect(await page.textContent('#status')).toMatch(new RegExp(`^Ready \\(${provider}\\)`));
      for (const file of frames()) {
        await page.setInputFiles('#file', file);
        await page.waitForFunction(
          (name) => (window as unknown as { lastResult: { label: string } | null }).lastResult?.label === name,
          basename(file),
          { timeout: 60_000 },
        );
        const r = (await page.evaluate(() => (window as unknown as { lastResult: unknown }).lastResult)) as PageResult;
        const node = await predictBytes(predictor, readFileSync(file));
        expect([r.width, r.height], file).toEqual([node.width, node.height]);
        const input = planarInput(node.input.rgb, predictor.size);
        let inputDiff = 0;
        for (let i = 0; i < input.length; i++) inputDiff = Math.max(inputDiff, Math.abs(input[i]! - r.input[i]!));
        let probDiff = 0;
        let fgNode = 0;
        for (let i = 0; i < node.probability.length; i++) {
          probDiff = Math.max(probDiff, Math.abs(node.probability[i]! - r.probability[i]!));
          if (node.probability[i]! > 0.5) fgNode++;
        }
        expect(inputDiff, `${file}: input tensor`).toBe(0);
        expect(probDiff, `${file}: probabilities`).toBeLessThan(1e-3);
        // A trained model: on its own dataset's frames the mask is neither empty nor everywhere.
        if (file.startsWith(CVC_DIR)) {
          expect(fgNode / node.probability.length, file).toBeGreaterThan(0.005);
          expect(fgNode / node.probability.length, file).toBeLessThan(0.6);
        }
      }
      expect(errors).toEqual([]);
      await page.close();
    },
    300_000,
  );
});
