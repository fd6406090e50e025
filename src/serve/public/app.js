// The browser demo: plain ES module, everything served locally by `npm run serve`.
// The one preprocessing (src/data/preprocess.ts, served with its types stripped): the same resize
// and scaling as training and Node prediction, so the same image gives the same input tensor.
import { resizeRgb, toPlanar } from '/lib/preprocess.js';
// Graph input and output names ('image', 'dropout_ratio', 'probability', 'samples') are written
// out here; src/graphBuilder/graphIO.ts (INPUT, OUTPUT) is where they are defined: keep them in step.
// Likewise FOREGROUND_THRESHOLD, defined in src/training/metrics.ts.
const FOREGROUND_THRESHOLD = 0.5;

const params = new URLSearchParams(location.search);

const $ = (id) => document.getElementById(id);
const status = (text, state) => {
  $('status').textContent = text;
  $('status').dataset.state = state;
};

/** Results of the last prediction, for tests and the console. */
window.lastResult = null;
window.demoError = null;

/** onnxruntime-web, loaded by start(): the WebGPU build or the plain wasm one. */
let ort;

/**
 * The WebGPU adapter, or null. ?provider=wasm skips WebGPU; ?provider=webgpu insists on it (an error
 * instead of a fallback: the bench must not measure the wrong thing).
 */
async function gpuAdapter() {
  const forced = params.get('provider');
  if (forced === 'wasm') return null;
  let adapter = null;
  let why = 'this browser has no navigator.gpu';
  if (navigator.gpu) {
    try {
      adapter = await navigator.gpu.requestAdapter();
      why = 'navigator.gpu.requestAdapter() returned null';
    } catch (e) {
      why = String(e?.message ?? e);
    }
  }
  if (!adapter && forced === 'webgpu') throw new Error(`WebGPU requested (?provider=webgpu) but unavailable: ${why}`);
  return adapter;
}

/**
 * onnxruntime-web for the provider at hand. Two builds: the plain wasm one (no asyncify
 * instrumentation, faster on the CPU) when there is no WebGPU, the WebGPU one (which also has the
 * wasm provider, for a fallback) when there is.
 */
async function loadRuntime(adapter) {
  const mod = await import(adapter ? '/ort/ort.webgpu.min.mjs' : '/ort/ort.wasm.min.mjs');
  mod.env.wasm.wasmPaths = '/ort/';
  // wasm threads need SharedArrayBuffer, which needs a cross-origin isolated page: the server sends
  // COOP/COEP, so every core can work (onnxruntime-web's own default stops at 4). Without isolation
  // (another server, a file:// page) one thread. ?threads=N overrides (the browser bench uses it).
  const threadsParam = Number(params.get('threads'));
  mod.env.wasm.numThreads =
    Number.isInteger(threadsParam) && threadsParam > 0
      ? threadsParam
      : crossOriginIsolated
        ? Math.min(16, navigator.hardwareConcurrency || 1)
        : 1;
  mod.env.logLevel = 'error';
  return mod;
}

async function createSession(url, adapter) {
  if (adapter) {
    try {
      return {
        session: await ort.InferenceSession.create(url, { executionProviders: ['webgpu'] }),
        provider: 'webgpu',
      };
    } catch (e) {
      if (params.get('provider') === 'webgpu') throw e;
      console.warn(`WebGPU session failed, using wasm: ${e.message ?? e}`);
    }
  }
  return { session: await ort.InferenceSession.create(url, { executionProviders: ['wasm'] }), provider: 'wasm' };
}

let info;
let main;
let mc = null;
let busy = false;

/**
 * Image bytes → RGBA pixels at the image's own size. Decoded without colour-space conversion, as
 * sharp decodes them in Node (an opaque image's pixels come through the canvas unchanged).
 */
async function decode(blob) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new Error('the file is not an image this browser can decode');
  }
  const canvas = document.createElement('canvas');
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return ctx.getImageData(0, 0, canvas.width, canvas.height);
}

/** The model-size RGB the network sees, drawn into the input canvas; returned for the overlay. */
function drawInput(rgb, size) {
  const canvas = $('input');
  canvas.width = canvas.height = size;
  const ctx = canvas.getContext('2d');
  const out = ctx.createImageData(size, size);
  for (let p = 0; p < size * size; p++) {
    for (let c = 0; c < 3; c++) out.data[p * 4 + c] = rgb[p * 3 + c];
    out.data[p * 4 + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
}

function drawMap(id, values, size, colour) {
  const canvas = $(id);
  canvas.width = canvas.height = size;
  const ctx = canvas.getContext('2d');
  const out = ctx.createImageData(size, size);
  for (let i = 0; i < size * size; i++) {
    const [r, g, b] = colour(values[i]);
    out.data[i * 4] = r;
    out.data[i * 4 + 1] = g;
    out.data[i * 4 + 2] = b;
    out.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
}

function drawOverlay(rgb, prob, size) {
  const canvas = $('overlay');
  canvas.width = canvas.height = size;
  const ctx = canvas.getContext('2d');
  const out = ctx.createImageData(size, size);
  for (let i = 0; i < size * size; i++) {
    const on = prob[i] > FOREGROUND_THRESHOLD;
    for (let c = 0; c < 3; c++) {
      const v = rgb[i * 3 + c];
      out.data[i * 4 + c] = on ? Math.round(0.5 * v + 0.5 * (c === 0 ? 255 : 0)) : v;
    }
    out.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
}

const grey = (v) => {
  const g = Math.round(Math.max(0, Math.min(1, v)) * 255);
  return [g, g, g];
};
// Dark blue → yellow for uncertainty (std of probabilities, at most 0.5).
const heat = (v) => {
  const t = Math.max(0, Math.min(1, v / 0.5));
  return [Math.round(255 * t), Math.round(40 + 200 * t), Math.round(120 * (1 - t))];
};

async function predict(blob, label) {
  if (busy) return;
  busy = true;
  try {
    status(`Running on ${label}…`, 'running');
    const size = info.imageSize;
    const image = await decode(blob);
    const rgb = resizeRgb(image.data, image.width, image.height, 4, size, size);
    drawInput(rgb, size);
    const input = new Float32Array(3 * size * size);
    toPlanar(rgb, size * size, input);
    const tensor = new ort.Tensor('float32', input, [1, 3, size, size]);
    const t0 = performance.now();
    const out = await main.session.run({ image: tensor });
    const ms = performance.now() - t0;
    const probability = new Float32Array(await out.probability.getData());
    let fg = 0;
    for (const v of probability) if (v > FOREGROUND_THRESHOLD) fg++;
    drawOverlay(rgb, probability, size);
    drawMap('probability', probability, size, grey);
    let uncertainty = null;
    let mcMs = null;
    if (mc) {
      const n = info.mc.samples;
      const t1 = performance.now();
      const r = await mc.session.run({
        image: new mc.ort.Tensor('float32', input, [1, 3, size, size]),
        dropout_ratio: new mc.ort.Tensor('float32', Float32Array.of(info.mc.dropoutRatio), []),
      });
      mcMs = performance.now() - t1;
      const samples = await r.samples.getData();
      const px = size * size;
      uncertainty = new Float32Array(px);
      for (let i = 0; i < px; i++) {
        let s = 0;
        let s2 = 0;
        for (let k = 0; k < n; k++) {
          const v = samples[k * px + i];
          s += v;
          s2 += v * v;
        }
        const mean = s / n;
        uncertainty[i] = Math.sqrt(Math.max(0, s2 / n - mean * mean));
      }
      drawMap('uncertainty', uncertainty, size, heat);
    }
    $('time').textContent =
      `${ms.toFixed(1)} ms${mcMs !== null ? ` (MC-Dropout, ${info.mc.samples} samples on ${mc.provider}: ${mcMs.toFixed(1)} ms)` : ''}`;
    $('foreground').textContent = `${((100 * fg) / probability.length).toFixed(1)} % of pixels`;
    window.lastResult = {
      label,
      provider: main.provider,
      size,
      width: image.width,
      height: image.height,
      ms,
      foreground: fg / probability.length,
      input: Array.from(input),
      probability: Array.from(probability),
      uncertainty: uncertainty ? Array.from(uncertainty) : null,
    };
    status(`Done: ${label}`, 'done');
  } catch (e) {
    window.demoError = String(e?.message ?? e);
    status(`Prediction failed: ${window.demoError}`, 'error');
    throw e;
  } finally {
    busy = false;
  }
}

async function predictFile(file) {
  if (!file) return;
  try {
    await predict(file, file.name);
  } catch (e) {
    status(`Cannot use ${file.name}: ${e.message ?? e}`, 'error');
  }
}

/** Predict sample i; resolves with the result (also window.lastResult). */
async function predictSample(i) {
  const sample = info.samples[i];
  const blob = await (await fetch(sample.url)).blob();
  await predict(blob, sample.name);
  return window.lastResult;
}

async function start() {
  try {
    info = await (await fetch('/api/info')).json();
    $('model-name').textContent =
      `${info.model} (${info.imageSize}×${info.imageSize})${info.testDice !== null ? `, test Dice ${info.testDice.toFixed(3)}` : ''}`;
    $('sample-source').textContent =
      info.sampleSource === 'synthetic'
        ? 'Samples (synthetic):'
        : `Samples (${info.sampleSource}, unseen in training):`;
    const adapter = await gpuAdapter();
    ort = await loadRuntime(adapter);
    main = await createSession('/model.onnx', adapter);
    $('provider').textContent =
      main.provider === 'wasm'
        ? `wasm, ${ort.env.wasm.numThreads} thread${ort.env.wasm.numThreads > 1 ? 's' : ''}`
        : main.provider;
    if (info.mc) {
      // onnxruntime-web 1.30's WebGPU provider cannot place a training-mode Dropout ("Provider type for
      // Dropout node ... is not set"), and its WebGPU build has no CPU Dropout kernel: the MC model then
      // runs on the plain wasm build, loaded beside it.
      for (const provider of main.provider === 'wasm' ? ['wasm'] : [main.provider, 'wasm']) {
        try {
          const rt = provider === main.provider ? ort : await loadRuntime(null);
          mc = {
            session: await rt.InferenceSession.create('/model_mc.onnx', { executionProviders: [provider] }),
            provider,
            ort: rt,
          };
          $('mc-n').textContent = String(info.mc.samples);
          $('uncertainty-figure').hidden = false;
          break;
        } catch (e) {
          console.warn(`MC-Dropout model on ${provider} unavailable: ${e.message ?? e}`);
        }
      }
    }
    for (const [i, sample] of info.samples.entries()) {
      const b = document.createElement('button');
      b.type = 'button';
      b.id = `sample-${i}`;
      b.title = sample.name;
      const img = document.createElement('img');
      img.src = sample.url;
      img.alt = sample.name;
      b.append(img);
      b.addEventListener('click', () => predictSample(i).catch(() => undefined));
      $('samples').append(b);
    }
    $('file').addEventListener('change', (e) => predictFile(e.target.files[0]));
    const drop = $('drop');
    drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      predictFile(e.dataTransfer.files[0]);
    });
    window.demo = {
      provider: main.provider,
      mcProvider: mc?.provider ?? null,
      threads: ort.env.wasm.numThreads,
      isolated: crossOriginIsolated,
      predictSample,
    };
    status(`Ready (${main.provider}). Pick an image or a sample.`, 'ready');
  } catch (e) {
    window.demoError = String(e?.message ?? e);
    status(`Could not start: ${window.demoError}`, 'error');
  }
}

start();
