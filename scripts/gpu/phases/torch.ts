/**
 * GPU check phase `torch`: PyTorch's train step of the same U-Net, loss and dropout
 * (bench/peers/torch_unet_train.py), when torch is there; and what torch is installed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PRESETS } from '../../../src/graphBuilder/models.js';
import { type Config, PHASE_TIMEOUT_S } from '../config.js';
import { configFor, progress } from './shared.js';

/** The peer script: next to the bundle (the kit), or in the repository's bench/peers. */
function torchScript(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'torch_unet_train.py'), join(here, '../../../bench/peers/torch_unet_train.py')];
  for (const p of candidates) if (existsSync(p)) return p;
  return null;
}

export type TorchInfo = {
  version: string;
  cuda: boolean;
  cudaVersion: string | null;
  cudnn: number | null;
  device: string | null;
};

/** The torch that `python` imports: version, CUDA, cuDNN and device; or why it does not import. */
export function torchInfo(python: string): TorchInfo | { error: string } {
  const code =
    'import json, torch; c = torch.cuda.is_available(); print(json.dumps({"version": torch.__version__, "cuda": c, ' +
    '"cudaVersion": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if c else None, ' +
    '"device": torch.cuda.get_device_name(0) if c else None}))';
  const r = spawnSync(python, ['-c', code], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) return { error: `${python}: ${r.error.message}` };
  if (r.status !== 0) return { error: (r.stderr || '').trim().split('\n').slice(-1)[0] ?? `exit ${r.status}` };
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

export function phaseTorch(cfg: Config) {
  const t = cfg.torch;
  const info = torchInfo(t.python);
  if ('error' in info) return { skipped: `PyTorch not usable: ${info.error}` };
  const device = cfg.ep === 'cuda' ? 'cuda' : 'cpu';
  if (device === 'cuda' && !info.cuda) {
    return { skipped: `torch ${info.version} has no CUDA device (torch.cuda.is_available() is False)`, torch: info };
  }
  const script = torchScript();
  if (!script) return { skipped: 'torch_unet_train.py not found next to the bundle or in bench/peers' };
  const tr = cfg.train;
  const { base, depth } = PRESETS[tr.preset];
  // The same loss and dropout as our train step (PolyDice-1, p of the preset).
  const p = configFor(tr.preset, tr.size, tr.batch).unet.dropout.p;
  const args = [
    script,
    ...['--device', device, '--base', String(base), '--depth', String(depth), '--size', String(tr.size)],
    ...['--batch', String(tr.batch), '--repeats', String(t.repeats), '--warmup', String(t.warmup)],
    ...['--loss', 'polydice1', '--dropout', String(p)],
  ];
  progress(`torch: ${t.python} ${args.join(' ')}`);
  const timeout = (cfg.phaseTimeoutS || PHASE_TIMEOUT_S.torch) * 1000;
  const r = spawnSync(t.python, args, { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`torch_unet_train.py failed (exit ${r.status ?? r.signal}): ${r.stdout}`);
  const result = JSON.parse(r.stdout.trim().split('\n').pop()!);
  progress(`torch: median ${result.ms_median} ms/step`);
  const command = `${t.python} ${args.map((a) => (a === script ? 'torch_unet_train.py' : a)).join(' ')}`;
  return { torch: info, device, command, result };
}
