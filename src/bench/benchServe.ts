/**
 * Prediction-service load and abuse test on loopback (`npm run bench -- --only serve`). The server runs
 * in a child process (this file run with a JSON job: it starts the server and answers "connections" on
 * stdin with its open socket count), so its peak resident memory (VmHWM) is its own. A fresh server per
 * scenario:
 *   steady   N predictions of a 384×288 PNG (a CVC-ClinicDB frame's size), 8 in flight;
 *   uploads  50 clients at once each sending a 19 MB PNG (noise: it does not compress), near the 20 MB limit;
 *   decode   8 decompression bombs (7200², 51.8 MP, over the limit) and 8 near-limit images (7000², 49 MP)
 *            at once: small uploads, the costliest decodes the server accepts;
 *   stall    20 slow-header, 20 slow-body and 20 stalled-reader connections, then predictions beside them;
 *            how long the server takes to close every stalled socket.
 * Every scenario ends with the server's answers counted by status (0: no answer, the connection broke),
 * latency percentiles of the answers, and the server's resident memory at start and at its peak.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { prng } from '../common/prng.js';
import { buildInferenceModel, presetConfig } from '../graphBuilder/models.js';
import { serialize } from '../graphBuilder/serialize.js';
import { ortDist, type ServeOptions, SERVER_LIMITS, startServer } from '../serve/server.js';
import { syntheticSample } from '../data/synthetic.js';
import { quantileSorted, round, summaryStats } from '../common/stats.js';
import { textTable } from '../common/table.js';
import { progress } from '../common/progress.js';

const SELF = fileURLToPath(import.meta.url);
const REPO_ROOT = resolve(dirname(SELF), '../..');

type Limits = NonNullable<ServeOptions['limits']>;

export interface ScenarioResult {
  name: string;
  description: string;
  requests: number;
  /** Answers by HTTP status; "0" counts requests whose connection broke before an answer. */
  statuses: Record<string, number>;
  /** Requests whose answer was not the expected one (see each scenario). */
  failures: number;
  latencyMs: { p50: number; p99: number; max: number } | null;
  seconds: number;
  /** The server process's resident memory: after startup, and its peak (VmHWM) at the end. */
  rssMiB: { start: number; peak: number } | null;
  /** stall only: seconds until the server had closed each kind of stalled connection. */
  closedAfterS?: Record<string, number | null>;
}

export interface ServeBench {
  model: string;
  limits: typeof SERVER_LIMITS;
  quick: boolean;
  scenarios: ScenarioResult[];
}

interface Reply {
  status: number;
  ms: number;
}

/** One POST /api/predict; status 0 when the connection broke before an answer. */
function post(url: string, body: Buffer): Promise<Reply> {
  const t = performance.now();
  return new Promise((ok) => {
    const done = (status: number): void => ok({ status, ms: performance.now() - t });
    const req = http.request(
      url,
      { method: 'POST', headers: { 'content-type': 'image/png', 'content-length': body.length }, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode ?? 0));
        res.on('error', () => done(0));
      },
    );
    req.on('error', () => done(0));
    req.end(body);
  });
}

/** `total` requests made by `inFlight` loops; each loop sends the next one when its answer arrives. */
async function load(total: number, inFlight: number, send: () => Promise<Reply>): Promise<Reply[]> {
  const replies: Reply[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(inFlight, total) }, async () => {
      while (next < total) {
        next++;
        replies.push(await send());
      }
    }),
  );
  return replies;
}

/** The server in a child process: its URL, open-connection count, memory and stop. */
interface ServerChild {
  url: string;
  connections: () => Promise<number>;
  rssMiB: () => { rss: number; peak: number } | null;
  stop: () => Promise<void>;
}

async function startChild(model: string, limits: Limits): Promise<ServerChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, JSON.stringify({ model, limits })], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const pending: ((line: string) => void)[] = [];
  lines.on('line', (line) => pending.shift()?.(line));
  const exited = new Promise<never>((_, fail) =>
    child.once('exit', (code) => fail(new Error(`bench serve: the server process exited (${code})`))),
  );
  exited.catch(() => undefined);
  const nextLine = (): Promise<string> => Promise.race([new Promise<string>((ok) => pending.push(ok)), exited]);
  const { url } = JSON.parse(await nextLine()) as { url: string };
  const pid = child.pid!;
  return {
    url,
    connections: async () => {
      child.stdin!.write('connections\n');
      return Number(await nextLine());
    },
    rssMiB: () => {
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)![1]);
        return { rss: round(kb('VmRSS') / 1024, 1), peak: round(kb('VmHWM') / 1024, 1) };
      } catch {
        return null; // not Linux
      }
    },
    stop: () =>
      new Promise((ok) => {
        child.once('exit', () => ok());
        child.stdin!.end();
      }),
  };
}

type Counted = Omit<ScenarioResult, 'rssMiB' | 'seconds' | 'failures'>;

function count(name: string, description: string, replies: Reply[]): Counted {
  const statuses: Record<string, number> = {};
  for (const r of replies) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  const answered = replies
    .filter((r) => r.status !== 0)
    .map((r) => r.ms)
    .sort((a, b) => a - b);
  return {
    name,
    description,
    requests: replies.length,
    statuses,
    latencyMs: answered.length
      ? {
          p50: round(summaryStats(answered).median, 1),
          p99: round(quantileSorted(answered, 0.99), 1),
          max: round(answered.at(-1)!, 1),
        }
      : null,
  };
}

/** Runs `body` against a fresh server child; its duration and the server's memory go in the result. */
async function scenario(
  model: string,
  limits: Limits,
  body: (url: string, server: ServerChild) => Promise<Omit<ScenarioResult, 'rssMiB' | 'seconds'>>,
): Promise<ScenarioResult> {
  const server = await startChild(model, limits);
  const start = server.rssMiB();
  const t0 = performance.now();
  try {
    const r = await body(`${server.url.replace(/\/$/, '')}/api/predict`, server);
    const end = server.rssMiB();
    return {
      ...r,
      seconds: round((performance.now() - t0) / 1000, 1),
      rssMiB: start && end ? { start: start.rss, peak: end.peak } : null,
    };
  } finally {
    await server.stop();
  }
}

/** A socket that sends `text` and then nothing; `closed` resolves with the seconds until it closed. */
function stalled(url: string, text: string, pauseReading: boolean): { closed: Promise<number>; socket: net.Socket } {
  const { hostname, port } = new URL(url);
  const t0 = performance.now();
  const socket = net.connect(Number(port), hostname, () => socket.write(text));
  if (pauseReading)
    socket.once('data', () => socket.pause()); // reads the first chunk, then never again
  else socket.resume();
  const closed = new Promise<number>((ok) => {
    socket.on('close', () => ok((performance.now() - t0) / 1000));
    socket.on('error', () => undefined);
  });
  return { closed, socket };
}

async function noisePng(width: number, height: number, seed: number): Promise<Buffer> {
  const rand = prng(seed);
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(rand.next() * 256);
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .png({ compressionLevel: 0 })
    .toBuffer();
}

const flatPng = (side: number): Promise<Buffer> =>
  sharp({ create: { width: side, height: side, channels: 3, background: { r: 120, g: 60, b: 50 } } })
    .png({ compressionLevel: 9 })
    .toBuffer();

const sleep = (ms: number): Promise<void> => new Promise((ok) => setTimeout(ok, ms));

/**
 * The four scenarios. `quick` makes them small and the timeouts short (recorded in `limits`) so the
 * stall scenario ends in seconds; the full run keeps the server's real limits.
 */
export async function benchServe(quick: boolean): Promise<ServeBench> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-serve-'));
  const model = join(dir, 'model.onnx');
  writeFileSync(model, serialize(buildInferenceModel(presetConfig('small'))));
  const limits: Limits = quick ? { timeouts: { headers: 1000, request: 3000, idle: 2000 } } : {};
  const effective = { ...SERVER_LIMITS, ...limits, timeouts: { ...SERVER_LIMITS.timeouts, ...limits.timeouts } };
  const steadyN = quick ? 40 : 500;
  const uploaders = quick ? 12 : 50;
  const stallN = quick ? 5 : 20;
  try {
    const s = syntheticSample(0, 288, 7);
    const frame = await sharp(Buffer.from(s.image), { raw: { width: 288, height: 288, channels: 3 } })
      .resize(384, 288, { fit: 'fill' })
      .png()
      .toBuffer();
    const big = await noisePng(2500, 2500, 11); // 18.8 MB
    const [bomb, nearLimit] = [await flatPng(7200), await flatPng(7000)];
    const scenarios: ScenarioResult[] = [];

    progress(`serve: steady: ${steadyN} predictions of a 384×288 PNG, 8 in flight`);
    scenarios.push(
      await scenario(model, limits, async (url) => {
        const replies = await load(steadyN, 8, () => post(url, frame));
        return {
          ...count('steady', `${steadyN} POSTs of a 384×288 PNG (${frame.length} B), 8 in flight`, replies),
          failures: replies.filter((r) => r.status !== 200).length,
        };
      }),
    );

    progress(`serve: uploads: ${uploaders} clients at once, each a ${(big.length / 2 ** 20).toFixed(1)} MiB PNG`);
    scenarios.push(
      await scenario(model, limits, async (url) => {
        const replies = await Promise.all(Array.from({ length: uploaders }, () => post(url, big)));
        // Expected: 200, or 503 when the byte budget or the queue is full; never a broken connection.
        const failures = replies.filter((r) => r.status !== 200 && r.status !== 503).length;
        return {
          ...count(
            'uploads',
            `${uploaders} clients at once, each POSTing a ${big.length}-byte PNG (2500×2500 noise); 200 or 503 expected`,
            replies,
          ),
          failures,
        };
      }),
    );

    progress('serve: decode: 8 decompression bombs (7200²) and 8 near-limit images (7000²) at once');
    scenarios.push(
      await scenario(model, limits, async (url) => {
        const replies = await Promise.all(Array.from({ length: 16 }, (_, i) => post(url, i % 2 ? nearLimit : bomb)));
        // Expected: 400 for each bomb, 200 (or 503 when the queue is full) for each near-limit image.
        const failures = replies.filter((x, i) =>
          i % 2 ? x.status !== 200 && x.status !== 503 : x.status !== 400,
        ).length;
        return {
          ...count(
            'decode',
            `8 bombs (7200² flat PNG, ${bomb.length} B, over the 50 MP limit: 400 expected) and 8 near-limit images (7000² flat PNG, ${nearLimit.length} B: 200) at once`,
            replies,
          ),
          failures,
        };
      }),
    );

    progress(
      `serve: stall: ${stallN} slow-header, ${stallN} slow-body and ${stallN} stalled-reader connections, then 40 predictions beside them`,
    );
    scenarios.push(
      await scenario(model, limits, async (url, server) => {
        const wasm = readdirSync(ortDist()).find((f) => /^ort[\w.-]*\.wasm$/.test(f));
        const t0 = performance.now();
        const kinds = {
          slowHeaders: Array.from({ length: stallN }, () =>
            stalled(url, 'POST /api/predict HTTP/1.1\r\nHost: bench\r\n', false),
          ),
          slowBodies: Array.from({ length: stallN }, () =>
            stalled(
              url,
              `POST /api/predict HTTP/1.1\r\nHost: bench\r\nContent-Type: image/png\r\nContent-Length: ${big.length}\r\n\r\n0123456789`,
              false,
            ),
          ),
          stalledReaders: Array.from({ length: stallN }, () =>
            stalled(url, `GET /ort/${wasm} HTTP/1.1\r\nHost: bench\r\n\r\n`, true),
          ),
        };
        await sleep(300);
        const replies = await load(40, 8, () => post(url, frame));
        const r = count(
          'stall',
          `${stallN} each of slow headers, slow bodies (10 B of a declared ${big.length}) and readers that stop reading ${wasm}; 40 predictions (8 in flight) beside them`,
          replies,
        );
        const bound =
          (Math.max(effective.timeouts.headers, effective.timeouts.request, effective.timeouts.idle) + 5000) / 1000;
        const closedAfterS: Record<string, number | null> = {};
        for (const kind of ['slowHeaders', 'slowBodies'] as const) {
          const left = bound - (performance.now() - t0) / 1000;
          const times = await Promise.race([
            Promise.all(kinds[kind].map((x) => x.closed)),
            sleep(Math.max(0, left) * 1000).then(() => null),
          ]);
          closedAfterS[kind] = times ? round(Math.max(...times), 1) : null;
        }
        // A paused socket does not see its close: count the server's open sockets instead.
        let open = await server.connections();
        while (open > 0 && (performance.now() - t0) / 1000 < bound) {
          await sleep(250);
          open = await server.connections();
        }
        closedAfterS.stalledReaders = open === 0 ? round((performance.now() - t0) / 1000, 1) : null;
        for (const sockets of Object.values(kinds)) for (const x of sockets) x.socket.destroy();
        return { ...r, failures: replies.filter((x) => x.status !== 200).length, closedAfterS };
      }),
    );
    return {
      model: 'small preset (128², untrained weights: the cost does not depend on them)',
      limits: effective,
      quick,
      scenarios,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function serveReport(b: ServeBench): string {
  const t = b.limits.timeouts;
  const head =
    `Prediction service load and abuse test (loopback, ${b.model}; the server in its own process, a fresh one per scenario)\n` +
    `limits: ${b.limits.maxConcurrent} predictions at once, ${b.limits.maxQueued} waiting, ${b.limits.uploadLimit} B per upload, ${b.limits.maxBufferedBytes} B of bodies held, ` +
    `${b.limits.maxConnections} sockets; timeouts: headers ${t.headers / 1000} s, request ${t.request / 1000} s, idle ${t.idle / 1000} s\n`;
  const rows = b.scenarios.map((s) => [
    s.name,
    String(s.requests),
    Object.entries(s.statuses)
      .map(([k, v]) => `${k === '0' ? 'broken' : k}×${v}`)
      .join(' '),
    String(s.failures),
    s.latencyMs ? String(s.latencyMs.p50) : '-',
    s.latencyMs ? String(s.latencyMs.p99) : '-',
    s.rssMiB ? String(s.rssMiB.start) : '-',
    s.rssMiB ? String(s.rssMiB.peak) : '-',
  ]);
  const stall = b.scenarios.find((s) => s.closedAfterS);
  const closed = stall?.closedAfterS
    ? `stalled connections all closed by the server after (s): ${Object.entries(stall.closedAfterS)
        .map(([k, v]) => `${k} ${v ?? 'NOT within the bound'}`)
        .join(', ')}\n`
    : '';
  const header = ['scenario', 'requests', 'answers', 'failures', 'p50 ms', 'p99 ms', 'RSS start MiB', 'RSS peak MiB'];
  return `${head}${textTable(header, rows)}\n${closed}`;
}

// Child: start the server, print its URL, answer "connections" with the open socket count, exit when stdin ends.
if (process.argv[1] === SELF) {
  const job = JSON.parse(process.argv[2]!) as { model: string; limits: Limits };
  void startServer({ modelPath: job.model, port: 0, mcSamples: 0, limits: job.limits }).then((s) => {
    process.stdout.write(`${JSON.stringify({ url: s.url })}\n`);
    const input = createInterface({ input: process.stdin });
    input.on('line', (line) => {
      if (line === 'connections') s.server.getConnections((_, n) => process.stdout.write(`${n}\n`));
    });
    input.on('close', () => void s.close().then(() => process.exit(0)));
  });
}
