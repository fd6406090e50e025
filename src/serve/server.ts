/**
 * The demo and prediction server (npm run serve): node:http, no framework.
 *
 *   GET  /, /app.js, /style.css   the browser demo (src/serve/public/)
 *   GET  /lib/preprocess.js       src/data/preprocess.ts with its types stripped: the page resizes as training does
 *   GET  /ort/<file>              onnxruntime-web's browser files (node_modules/onnxruntime-web/dist)
 *   GET  /model.onnx              the inference model
 *   GET  /model_mc.onnx           the MC-Dropout model with the same weights (404 when unavailable)
 *   GET  /samples/N.png           sample images: the model's own test-fold frames when its run names a dataset, else synthetic (samples.ts)
 *   GET  /api/info                model size, samples (name, url, source), the model's test Dice, MC availability
 *   POST /api/predict             image bytes → JSON {width, height, mask (base64 PNG), foreground, ms}, or ?format=png
 *
 * Errors are JSON {error, status}: 400 bad image (also: not PNG/JPEG/TIFF inside, or over 50 MP),
 * 404 unknown path, 405 wrong method, 408 request too slow, 413 too large, 414 target too long,
 * 415 wrong content type, 431 headers too large, 503 busy (Retry-After): the upload budget or the
 * prediction queue is full, 500 otherwise. Static files come only from their own folders and are streamed.
 *
 * Bounds, in the order a prediction meets them (SERVER_LIMITS; `npm run bench -- --only serve` loads them):
 *   1. connections: at most maxConnections sockets; headers within 10 s, the request within 60 s, idle 30 s;
 *   2. upload bytes: one upload ≤ uploadLimit (413); all uploads being received, waiting or predicted
 *      hold ≤ maxBufferedBytes of bodies (503 the moment one more chunk would pass it). Counted as the
 *      bytes arrive, not as declared, so a slow body holds only what it has sent;
 *   3. predictions: maxConcurrent decode + run at once, maxQueued waiting with their body read (503 beyond).
 * A slow upload therefore never holds a prediction slot.
 */
import { createReadStream, readFileSync, readdirSync, type Stats, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';
import { IMAGE_MIME_TYPES } from '../common/imageTypes.js';
import { pageSamples } from './samples.js';
import { maskPng } from '../uncertainty/predictUncertainty.js';
import { DecodeError, type Predictor, loadPredictor, mcModelBytes, predictBytes } from './predictNode.js';
import { modelLabel } from '../runtime/modelFile.js';

export const PUBLIC_DIR = join(dirname(fileURLToPath(import.meta.url)), 'public');
/** The one preprocessing (src/data/preprocess.ts), which the page imports as /lib/preprocess.js. */
export const PREPROCESS_SOURCE = join(dirname(fileURLToPath(import.meta.url)), '../data/preprocess.ts');

/**
 * The preprocessing module as browser JavaScript: esbuild strips the types and nothing else (no
 * bundling, no minifying), so the page runs the very arithmetic Node runs.
 */
export function preprocessModuleJs(): string {
  return transformSync(readFileSync(PREPROCESS_SOURCE, 'utf8'), {
    loader: 'ts',
    format: 'esm',
    target: 'es2020',
    sourcefile: 'preprocess.ts',
  }).code;
}
const ORT_DIR = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-web')), '.');
/** Sent with every answer: a cross-origin isolated page (wasm threads); everything it loads is same-origin. */
export const ISOLATION_HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
} as const;

/** Longest request target served; longer ones get 414 (Node's parser answers 431 past 16 kB of headers). */
export const MAX_URL_LENGTH = 8192;

/**
 * Timeouts in ms: all headers within `headers`, the whole request (body included) within `request`, a
 * socket where no bytes move closed after `idle` (after up to 2 × idle for a reader that stopped reading:
 * Node counts a write still queued as activity once). None of them runs while a prediction is computed.
 */
export interface Timeouts {
  headers: number;
  request: number;
  idle: number;
}

/** The server's bounds; every field can be set per server (ServeOptions). */
export interface ServerLimits {
  /** Bytes of one upload; more get 413. */
  uploadLimit: number;
  /**
   * Bytes of request bodies held at once (being received, waiting for a slot or being predicted).
   * 128 MiB: six full-size uploads; with the decodes below, the server stays near 1.5 GB at worst.
   */
  maxBufferedBytes: number;
  /**
   * Predictions decoding and running at once. Each decode is ≤ 50 MP (MAX_DECODED_PIXELS, ~0.15 GB of
   * RGB plus sharp's working copy), so 4 bound the decode memory to about 1 GB.
   */
  maxConcurrent: number;
  /** Predictions waiting for a slot with their body read; more get 503. */
  maxQueued: number;
  /** Open sockets; Node closes the ones beyond at once. */
  maxConnections: number;
  timeouts: Timeouts;
}

export const SERVER_LIMITS: Readonly<ServerLimits> = Object.freeze({
  uploadLimit: 20 * 1024 * 1024,
  maxBufferedBytes: 128 * 1024 * 1024,
  maxConcurrent: 4,
  maxQueued: 32,
  maxConnections: 256,
  timeouts: Object.freeze({ headers: 10_000, request: 60_000, idle: 30_000 }),
});

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
  /** MC-Dropout samples in /model_mc.onnx; 0 disables it. */
  mcSamples?: number;
  /** Bounds that differ from SERVER_LIMITS (tests and the load bench make them small). */
  limits?: Partial<Omit<ServerLimits, 'timeouts'>> & { timeouts?: Partial<Timeouts> };
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
export function ortDist(): string {
  let d = ORT_DIR;
  while (basename(d) !== 'dist' && dirname(d) !== d) d = dirname(d);
  return d;
}

/** onnxruntime-web files the page may load: the ESM bundles and the wasm runtimes, nothing else. */
function ortFiles(): Map<string, string> {
  const dir = ortDist();
  const files = new Map<string, string>();
  for (const f of readdirSync(dir))
    if (/^ort[\w.-]*\.(mjs|wasm)$/.test(f) && statSync(join(dir, f)).isFile()) files.set(f, join(dir, f));
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
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** A file streamed from disk (a slow reader holds a socket buffer, not the whole file). */
function sendFile(req: http.IncomingMessage, res: http.ServerResponse, path: string, size: number): void {
  res.writeHead(200, {
    'content-type': MIME[extname(path)] ?? 'application/octet-stream',
    'content-length': size,
    'cache-control': 'no-cache',
  });
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

/**
 * The bytes of request bodies held at once, counted as they arrive: `take` claims bytes (false when
 * they would pass the budget), `give` returns them.
 */
interface ByteBudget {
  readonly held: () => number;
  take: (n: number) => boolean;
  give: (n: number) => void;
}

function byteBudget(max: number): ByteBudget {
  let held = 0;
  return {
    held: () => held,
    take: (n) => {
      if (held + n > max) return false;
      held += n;
      return true;
    },
    give: (n) => {
      held -= n;
    },
  };
}

/**
 * Read a request body: 413 beyond `limit` bytes, 503 when the next chunk would pass the shared budget.
 * The body's bytes stay in the budget until the caller gives them back; on failure they are given back
 * here and the rest of the body is drained (and discarded) so that the client reads the answer.
 */
function readBody(req: http.IncomingMessage, limit: number, budget: ByteBudget, maxBuffered: number): Promise<Buffer> {
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const stop = (e: HttpError): void => {
      done = true;
      chunks.length = 0;
      budget.give(size);
      size = 0;
      req.resume();
      fail(e);
    };
    req.on('data', (c: Buffer) => {
      if (done) return;
      if (size + c.length > limit)
        return stop(
          new HttpError(413, `upload too large: more than ${limit} bytes (the limit)`, { connection: 'close' }),
        );
      if (!budget.take(c.length)) {
        return stop(
          // No 'connection: close': the rest (≤ the upload limit) is drained, so that the client reads
          // this answer instead of a reset from a socket closed under its upload.
          new HttpError(
            503,
            `busy: uploads hold ${budget.held()} bytes of the ${maxBuffered}-byte budget; retry in a second`,
            { 'retry-after': '1' },
          ),
        );
      }
      size += c.length;
      chunks.push(c);
    });
    req.on('end', () => {
      if (!done) ok(Buffer.concat(chunks));
      done = true;
    });
    req.on('error', (e) => {
      if (!done) stop(new HttpError(400, `request body: ${e.message}`));
    });
    req.on('close', () => {
      if (!done) stop(new HttpError(400, 'request body: the connection closed before the end'));
    });
  });
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const log = options.log ?? (() => undefined);
  const limits: ServerLimits = {
    ...SERVER_LIMITS,
    ...options.limits,
    timeouts: { ...SERVER_LIMITS.timeouts, ...options.limits?.timeouts },
  };
  const { uploadLimit: limit, maxBufferedBytes, maxConcurrent, maxQueued } = limits;
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
  const samples = await pageSamples(options.modelPath, size, log);
  const ort = ortFiles();
  const preprocessJs = Buffer.from(preprocessModuleJs());
  const dropoutP = predictor.config.unet.dropout?.p ?? 0.5;
  const info = {
    model: modelLabel(options.modelPath),
    imageSize: size,
    samples: samples.samples.map((x, i) => ({ name: x.name, url: `/samples/${i}.png` })),
    sampleSource: samples.source,
    testDice: samples.testDice,
    mc: mcBytes ? { samples: mcSamples, dropoutRatio: dropoutP } : null,
    uploadLimit: limit,
    accepted: IMAGE_MIME_TYPES,
  };

  const budget = byteBudget(maxBufferedBytes);
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
    if (raw.length > MAX_URL_LENGTH)
      throw new HttpError(414, `request target of ${raw.length} characters: the limit is ${MAX_URL_LENGTH}`, {
        connection: 'close',
      });
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    const method = req.method ?? 'GET';
    const isGet = method === 'GET' || method === 'HEAD';

    if (path === '/api/predict') {
      if (method !== 'POST')
        throw new HttpError(405, `${method} not allowed on /api/predict: use POST with the image bytes as the body`, {
          allow: 'POST',
        });
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!IMAGE_MIME_TYPES.includes(type)) {
        req.resume();
        throw new HttpError(
          415,
          `unsupported content type "${type || '(none)'}": send ${IMAGE_MIME_TYPES.join(', ')}`,
          { connection: 'close' },
        );
      }
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > limit) {
        req.resume();
        throw new HttpError(413, `upload too large: ${declared} bytes, the limit is ${limit}`, { connection: 'close' });
      }
      const format = query.get('format') ?? 'json';
      if (format !== 'json' && format !== 'png') throw new HttpError(400, `unknown format "${format}": json or png`);
      if (Number.isFinite(declared) && budget.held() + declared > maxBufferedBytes) {
        req.resume();
        throw new HttpError(
          503,
          `busy: uploads hold ${budget.held()} bytes of the ${maxBufferedBytes}-byte budget; retry in a second`,
          { 'retry-after': '1' },
        ); // drained, as below
      }
      const body = await readBody(req, limit, budget, maxBufferedBytes);
      // The idle timeout is for sockets where no bytes move; none move while the prediction waits and
      // runs, so it is off until the answer is written.
      req.socket.setTimeout(0);
      try {
        if (body.length === 0) throw new HttpError(400, 'empty body: send the image bytes');
        const slot = acquire();
        if (!slot) {
          throw new HttpError(
            503,
            `busy: ${inFlight} predictions running and ${waiting.length} waiting (the limits are ${maxConcurrent} and ${maxQueued}); retry in a second`,
            {
              'retry-after': '1',
            },
          );
        }
        await slot;
        try {
          let pred: Awaited<ReturnType<typeof predictBytes>>;
          try {
            pred = await predictBytes(predictor, body);
          } catch (e) {
            if (e instanceof DecodeError) throw new HttpError(400, e.message);
            throw e;
          }
          const png = await maskPng(pred.probability, pred.size, pred.width, pred.height);
          if (format === 'png') return sendBytes(req, res, png, 'image/png');
          return sendJson(res, 200, {
            width: pred.width,
            height: pred.height,
            modelSize: pred.size,
            mask: png.toString('base64'),
            foreground: pred.foreground,
            ms: pred.ms,
          });
        } finally {
          release();
        }
      } finally {
        budget.give(body.length);
        req.socket.setTimeout(limits.timeouts.idle);
      }
    }

    if (!isGet) throw new HttpError(405, `${method} not allowed on ${path}`, { allow: 'GET, HEAD' });

    if (path === '/api/info') return sendJson(res, 200, info);
    if (path === '/lib/preprocess.js') return sendBytes(req, res, preprocessJs, MIME['.js']!);
    if (path === '/model.onnx') return sendBytes(req, res, modelBytes, MIME['.onnx']!);
    if (path === '/model_mc.onnx') {
      if (!mcBytes) throw new HttpError(404, 'no MC-Dropout model for this model');
      return sendBytes(req, res, mcBytes, MIME['.onnx']!);
    }
    const sample = /^\/samples\/(\d+)\.png$/.exec(path);
    if (sample) {
      const found = samples.samples[Number(sample[1])];
      if (!found) throw new HttpError(404, `no sample ${sample[1]}: samples are 0..${samples.samples.length - 1}`);
      return sendBytes(req, res, found.png, 'image/png');
    }
    if (path.startsWith('/ort/')) {
      const file = ort.get(path.slice(5));
      if (!file) throw new HttpError(404, `not found: ${path}`);
      return sendFile(req, res, file, statSync(file).size);
    }
    const target = safeJoin(PUBLIC_DIR, path === '/' ? '/index.html' : path);
    if (target) {
      let st: Stats | undefined;
      try {
        st = statSync(target);
      } catch {
        st = undefined;
      }
      if (st?.isFile()) return sendFile(req, res, target, st.size);
    }
    throw new HttpError(404, `not found: ${path.length > 200 ? `${path.slice(0, 200)}…` : path}`);
  };

  // The timeouts are checked every second (Node's default, 30 s, would let a slow request live 90 s).
  const server = http.createServer(
    {
      headersTimeout: limits.timeouts.headers,
      requestTimeout: limits.timeouts.request,
      connectionsCheckingInterval: 1000,
    },
    (req, res) => {
      // Cross-origin isolation: the page may use SharedArrayBuffer, hence onnxruntime-web's wasm threads.
      for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
      handle(req, res).catch((e: unknown) => {
        const err = e instanceof HttpError ? e : new HttpError(500, `internal error: ${(e as Error)?.message ?? e}`);
        if (err.status >= 500) log(`serve: ${req.method} ${req.url}: ${(e as Error)?.stack ?? e}`);
        if (res.headersSent) {
          res.destroy();
          return;
        }
        sendJson(res, err.status, { error: err.message, status: err.status }, err.headers);
      });
    },
  );
  server.timeout = limits.timeouts.idle;
  server.maxConnections = limits.maxConnections;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (socket.writable && !(err.code === 'ECONNRESET')) {
      // Header block (request line included) over Node's 16 kB: 431; a timeout: 408; anything else: 400.
      const [status, text, why] =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large', 'request line and headers over 16 kB']
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [
                408,
                'Request Timeout',
                `too slow: headers are due within ${limits.timeouts.headers / 1000} s and the whole request within ${limits.timeouts.request / 1000} s`,
              ]
            : [400, 'Bad Request', `malformed request: ${err.code ?? err.message}`];
      const body = JSON.stringify({ error: why, status });
      socket.end(
        `HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
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
