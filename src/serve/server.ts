/**
 * The demo and prediction server (npm run serve): node:http, no framework.
 *
 *   GET  /, /app.js, /style.css   the browser demo (src/serve/public/)
 *   GET  /ort/<file>              onnxruntime-web's browser files (node_modules/onnxruntime-web/dist)
 *   GET  /model.onnx              the inference model
 *   GET  /model_mc.onnx           the MC-Dropout model with the same weights (404 when unavailable)
 *   GET  /samples/N.png           synthetic sample images at the model size (made at startup)
 *   GET  /api/info                model size, samples, MC availability
 *   POST /api/predict             image bytes → JSON {width, height, mask (base64 PNG), foreground, ms}, or ?format=png
 *
 * Errors are JSON {error, status}: 400 bad image (also: not PNG/JPEG/TIFF inside, or over 50 MP),
 * 404 unknown path, 405 wrong method, 408 request too slow, 413 too large, 414 target too long,
 * 415 wrong content type, 431 headers too large, 503 busy: slots and queue full (Retry-After), 500 otherwise. Static files
 * come only from their own folders and are streamed. Bounds: DEFAULT_MAX_CONCURRENT predictions at
 * once and DEFAULT_MAX_QUEUED waiting, DEFAULT_UPLOAD_LIMIT bytes per upload, TIMEOUTS_MS.
 */
import { createReadStream, readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { syntheticSample } from '../training/synthetic.js';
import { DecodeError, type Predictor, loadPredictor, maskPng, mcModelBytes, predictBytes } from './predictNode.js';

export const PUBLIC_DIR = join(dirname(fileURLToPath(import.meta.url)), 'public');
export const ORT_DIR = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-web')), '.');
export const DEFAULT_UPLOAD_LIMIT = 20 * 1024 * 1024;
export const SAMPLE_COUNT = 4;
/** Seed of the sample images: not the training set's seed (0), so they are unseen images. */
export const SAMPLE_SEED = 2024;
export const ACCEPTED_TYPES = ['image/png', 'image/jpeg', 'image/jpg', 'image/tiff'] as const;
/**
 * Predictions running at once; more get 503 with Retry-After. Each holds up to one upload (20 MB)
 * and one decode (≤ 50 MP), so this also bounds the bytes buffered: about 4 × 0.3 GB at worst.
 */
export const DEFAULT_MAX_CONCURRENT = 4;
/** Predictions that wait for a slot (their bodies not yet read: the socket holds them); more get 503. */
export const DEFAULT_MAX_QUEUED = 32;
/** Longest request target served; longer ones get 414 (Node's parser answers 431 past 16 kB of headers). */
export const MAX_URL_LENGTH = 8192;
/** Timeouts: all headers within 10 s, the whole request within 60 s, an idle connection closed after 30 s. */
export const TIMEOUTS_MS = { headers: 10_000, request: 60_000, idle: 30_000 } as const;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.json': 'application/json',
  '.onnx': 'application/octet-stream',
  '.ico': 'image/x-icon',
};

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface ServeOptions {
  modelPath: string;
  host?: string;
  port?: number;
  uploadLimit?: number;
  /** MC-Dropout samples in /model_mc.onnx; 0 disables it. */
  mcSamples?: number;
  /** Predictions at once (DEFAULT_MAX_CONCURRENT) and waiting for a slot (DEFAULT_MAX_QUEUED). */
  maxConcurrent?: number;
  maxQueued?: number;
  log?: (line: string) => void;
}

export interface RunningServer {
  server: http.Server;
  url: string;
  predictor: Predictor;
  hasMc: boolean;
  close: () => Promise<void>;
}

/** The onnxruntime-web dist folder (…/dist), found from the package's resolved entry. */
function ortDist(): string {
  let d = ORT_DIR;
  while (basename(d) !== 'dist' && dirname(d) !== d) d = dirname(d);
  return d;
}

/** onnxruntime-web files the page may load: the ESM bundles and the wasm runtimes, nothing else. */
function ortFiles(): Map<string, string> {
  const dir = ortDist();
  const files = new Map<string, string>();
  for (const f of readdirSync(dir)) if (/^ort[\w.-]*\.(mjs|wasm)$/.test(f) && statSync(join(dir, f)).isFile()) files.set(f, join(dir, f));
  return files;
}

/**
 * A request path → a file inside `root`, or undefined. Decodes percent-escapes once, refuses NUL,
 * backslashes and anything that resolves outside `root` (.., %2e%2e, absolute paths).
 */
export function safeJoin(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\') || !decoded.startsWith('/')) return undefined;
  if (decoded.split('/').some((s) => s === '..')) return undefined;
  const full = resolve(root, `.${decoded}`);
  const base = resolve(root);
  if (full !== base && !full.startsWith(base + sep)) return undefined;
  return full;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/** A file streamed from disk (a slow reader holds a socket buffer, not the whole file). */
function sendFile(req: http.IncomingMessage, res: http.ServerResponse, path: string, size: number): void {
  res.writeHead(200, { 'content-type': MIME[extname(path)] ?? 'application/octet-stream', 'content-length': size, 'cache-control': 'no-cache' });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(path);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

function sendBytes(req: http.IncomingMessage, res: http.ServerResponse, bytes: Uint8Array, type: string): void {
  res.writeHead(200, { 'content-type': type, 'content-length': bytes.byteLength, 'cache-control': 'no-cache' });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

/** Read a request body up to `limit` bytes; a 413 HttpError beyond it. */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        fail(new HttpError(413, `upload too large: more than ${limit} bytes (the limit)`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!done) ok(Buffer.concat(chunks));
      done = true;
    });
    req.on('error', (e) => {
      if (!done) fail(new HttpError(400, `request body: ${e.message}`));
      done = true;
    });
  });
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const log = options.log ?? (() => undefined);
  const limit = options.uploadLimit ?? DEFAULT_UPLOAD_LIMIT;
  const predictor = await loadPredictor(options.modelPath);
  const size = predictor.size;
  const modelBytes = new Uint8Array(readFileSync(options.modelPath));
  let mcBytes: Uint8Array | undefined;
  const mcSamples = options.mcSamples ?? 10;
  if (mcSamples > 0) {
    try {
      mcBytes = mcModelBytes(predictor, mcSamples);
      if (!mcBytes) log('serve: the model has no Dropout: no MC-Dropout uncertainty map');
    } catch (e) {
      log(`serve: no MC-Dropout model: ${(e as Error).message}`);
    }
  }
  const samples: Buffer[] = [];
  for (let i = 0; i < SAMPLE_COUNT; i++) {
    const s = syntheticSample(i, size, SAMPLE_SEED);
    samples.push(await sharp(s.image, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer());
  }
  const ort = ortFiles();
  const dropoutP = predictor.config.unet.dropout?.p ?? 0.5;
  const info = {
    model: basename(dirname(options.modelPath)) + '/' + basename(options.modelPath),
    imageSize: size,
    samples: SAMPLE_COUNT,
    mc: mcBytes ? { samples: mcSamples, dropoutRatio: dropoutP } : null,
    uploadLimit: limit,
    accepted: ACCEPTED_TYPES,
  };

  const maxConcurrent = options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT;
  const maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
  let inFlight = 0;
  const waiting: (() => void)[] = [];
  /** A prediction slot: at once if one is free, after the queue otherwise; null when the queue is full. */
  const acquire = (): Promise<void> | null => {
    if (inFlight < maxConcurrent) {
      inFlight++;
      return Promise.resolve();
    }
    if (waiting.length >= maxQueued) return null;
    return new Promise((ok) => waiting.push(ok)); // the releasing request hands its slot over
  };
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else inFlight--;
  };
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const raw = req.url ?? '/';
    if (raw.length > MAX_URL_LENGTH) throw new HttpError(414, `request target of ${raw.length} characters: the limit is ${MAX_URL_LENGTH}`, { connection: 'close' });
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    const method = req.method ?? 'GET';
    const isGet = method === 'GET' || method === 'HEAD';

    if (path === '/api/predict') {
      if (method !== 'POST') throw new HttpError(405, `${method} not allowed on /api/predict: use POST with the image bytes as the body`, { allow: 'POST' });
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!(ACCEPTED_TYPES as readonly string[]).includes(type)) {
        req.resume();
        throw new HttpError(415, `unsupported content type "${type || '(none)'}": send ${ACCEPTED_TYPES.join(', ')}`, { connection: 'close' });
      }
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > limit) {
        req.resume();
        throw new HttpError(413, `upload too large: ${declared} bytes, the limit is ${limit}`, { connection: 'close' });
      }
      const format = query.get('format') ?? 'json';
      if (format !== 'json' && format !== 'png') throw new HttpError(400, `unknown format "${format}": json or png`);
      const slot = acquire();
      if (!slot) {
        req.resume();
        throw new HttpError(503, `busy: ${inFlight} predictions running and ${waiting.length} waiting (the limits are ${maxConcurrent} and ${maxQueued}); retry in a second`, {
          'retry-after': '1',
          connection: 'close',
        });
      }
      await slot;
      try {
        const body = await readBody(req, limit);
        if (body.length === 0) throw new HttpError(400, 'empty body: send the image bytes');
        let pred;
        try {
          pred = await predictBytes(predictor, body);
        } catch (e) {
          if (e instanceof DecodeError) throw new HttpError(400, e.message);
          throw e;
        }
        const png = await maskPng(pred.probability, pred.size, pred.width, pred.height);
        if (format === 'png') return sendBytes(req, res, png, 'image/png');
        return sendJson(res, 200, { width: pred.width, height: pred.height, modelSize: pred.size, mask: png.toString('base64'), foreground: pred.foreground, ms: pred.ms });
      } finally {
        release();
      }
    }

    if (!isGet) throw new HttpError(405, `${method} not allowed on ${path}`, { allow: 'GET, HEAD' });

    if (path === '/api/info') return sendJson(res, 200, info);
    if (path === '/model.onnx') return sendBytes(req, res, modelBytes, MIME['.onnx']!);
    if (path === '/model_mc.onnx') {
      if (!mcBytes) throw new HttpError(404, 'no MC-Dropout model for this model');
      return sendBytes(req, res, mcBytes, MIME['.onnx']!);
    }
    const sample = /^\/samples\/(\d+)\.png$/.exec(path);
    if (sample) {
      const png = samples[Number(sample[1])];
      if (!png) throw new HttpError(404, `no sample ${sample[1]}: samples are 0..${SAMPLE_COUNT - 1}`);
      return sendBytes(req, res, png, 'image/png');
    }
    if (path.startsWith('/ort/')) {
      const file = ort.get(path.slice(5));
      if (!file) throw new HttpError(404, `not found: ${path}`);
      return sendFile(req, res, file, statSync(file).size);
    }
    const target = safeJoin(PUBLIC_DIR, path === '/' ? '/index.html' : path);
    if (target) {
      let st;
      try {
        st = statSync(target);
      } catch {
        st = undefined;
      }
      if (st?.isFile()) return sendFile(req, res, target, st.size);
    }
    throw new HttpError(404, `not found: ${path.length > 200 ? path.slice(0, 200) + '…' : path}`);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const err = e instanceof HttpError ? e : new HttpError(500, `internal error: ${(e as Error)?.message ?? e}`);
      if (err.status >= 500) log(`serve: ${req.method} ${req.url}: ${(e as Error)?.stack ?? e}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, err.status, { error: err.message, status: err.status }, err.headers);
    });
  });
  server.headersTimeout = TIMEOUTS_MS.headers;
  server.requestTimeout = TIMEOUTS_MS.request;
  server.timeout = TIMEOUTS_MS.idle;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (socket.writable && !(err.code === 'ECONNRESET')) {
      // Header block (request line included) over Node's 16 kB: 431; a timeout: 408; anything else: 400.
      const [status, text, why] =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large', 'request line and headers over 16 kB']
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [408, 'Request Timeout', `the request did not arrive within ${TIMEOUTS_MS.request / 1000} s`]
            : [400, 'Bad Request', `malformed request: ${err.code ?? err.message}`];
      const body = JSON.stringify({ error: why, status });
      socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    } else socket.destroy();
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => {
      server.off('error', fail);
      ok();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}/`;
  return {
    server,
    url,
    predictor,
    hasMc: !!mcBytes,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
