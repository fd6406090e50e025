/** npm run serve: the browser demo and the prediction API (src/serve/server.ts). */
import { asText, numberWhere, parseFlags, progress, runMain, UsageError } from './cli.js';
import { ModelNotFoundError, chooseModel } from '../serve/predictNode.js';
import { startServer } from '../serve/server.js';

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
    },
  );
  const { port } = flags;
  let modelPath: string;
  try {
    modelPath = chooseModel(flags.model);
  } catch (e) {
    if (e instanceof ModelNotFoundError) throw new UsageError(e.message);
    throw e;
  }
  progress(`serve: loading ${modelPath}`);
  const s = await startServer({ modelPath, host: flags.host, port, log: progress });
  progress(`serve: MC-Dropout uncertainty ${s.hasMc ? 'on' : 'off'}; model ${s.predictor.size}×${s.predictor.size}`);
  process.stdout.write(`serving on ${s.url}\n`);
  const stop = (): void => {
    void s.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
});
