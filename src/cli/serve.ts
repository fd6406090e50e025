/** npm run serve: the browser demo and the prediction API (src/serve/server.ts). */
import { asText, integerFrom, numberWhere, parseFlags, progress, runMain, UsageError } from './cli.js';
import { ModelNotFoundError, chooseModel } from '../serve/predictNode.js';
import { SERVER_LIMITS, startServer } from '../serve/server.js';

const MIB = 2 ** 20;

runMain(async () => {
  const flags = parseFlags(
    'serve',
    'Serve the browser demo (onnxruntime-web) and POST /api/predict (onnxruntime-node).',
    {
      host: { help: 'address to listen on', parse: asText, default: '127.0.0.1' },
      port: {
        help: 'port (0 = any free port)',
        parse: numberWhere((n) => Number.isInteger(n) && n >= 0 && n <= 65535, 'an integer in 0..65535'),
        default: 8080,
      },
      model: {
        help: 'model.onnx, fold or run folder (default: newest runs/*/fold-*/model.onnx)',
        parse: asText,
        default: '',
      },
      'max-concurrent': {
        help: 'predictions decoding and running at once (each decode holds up to ~0.3 GB)',
        parse: integerFrom(1),
        default: SERVER_LIMITS.maxConcurrent,
      },
      'max-queued': {
        help: 'predictions waiting for a slot; more get 503 with Retry-After',
        parse: integerFrom(0, 'a non-negative integer'),
        default: SERVER_LIMITS.maxQueued,
      },
      'upload-mib': {
        help: 'largest upload in MiB; more get 413',
        parse: numberWhere((n) => n > 0, 'a positive number'),
        default: SERVER_LIMITS.uploadLimit / MIB,
      },
      'buffered-mib': {
        help: 'MiB of request bodies held at once (received, waiting or predicted); more get 503',
        parse: numberWhere((n) => n > 0, 'a positive number'),
        default: SERVER_LIMITS.maxBufferedBytes / MIB,
      },
      'max-connections': {
        help: 'open sockets; Node closes the ones beyond at once',
        parse: integerFrom(1),
        default: SERVER_LIMITS.maxConnections,
      },
    },
  );
  if (flags['upload-mib'] > flags['buffered-mib']) {
    throw new UsageError(
      `--upload-mib (${flags['upload-mib']}) is more than --buffered-mib (${flags['buffered-mib']}): one upload could never fit`,
    );
  }
  const limits = {
    maxConcurrent: flags['max-concurrent'],
    maxQueued: flags['max-queued'],
    uploadLimit: Math.round(flags['upload-mib'] * MIB),
    maxBufferedBytes: Math.round(flags['buffered-mib'] * MIB),
    maxConnections: flags['max-connections'],
  };
  const { port } = flags;
  let modelPath: string;
  try {
    modelPath = chooseModel(flags.model);
  } catch (e) {
    if (e instanceof ModelNotFoundError) throw new UsageError(e.message);
    throw e;
  }
  progress(`serve: loading ${modelPath}`);
  const s = await startServer({ modelPath, host: flags.host, port, limits, log: progress });
  progress(`serve: MC-Dropout uncertainty ${s.hasMc ? 'on' : 'off'}; model ${s.predictor.size}×${s.predictor.size}`);
  process.stdout.write(`serving on ${s.url}\n`);
  const stop = (): void => {
    void s.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
});
