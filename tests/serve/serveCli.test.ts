/** npm run serve: its flags reach the server (limits), and bad ones are usage errors. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { tinyModel } from './helpers.js';

const serveArgs = ['--import', 'tsx', 'src/cli/serve.ts'];

describe('npm run serve', () => {
  it('--help lists the limits with their defaults', () => {
    const r = spawnSync(process.execPath, [...serveArgs, '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    for (const s of ['--max-concurrent', '--max-queued', '--upload-mib', '--buffered-mib', '--max-connections'])
      expect(r.stdout).toContain(s);
    expect(r.stdout).toMatch(/--upload-mib VALUE +largest upload in MiB; more get 413 \(default: 20\)/);
  });

  it.each([
    [['--max-concurrent', '0'], /--max-concurrent must be a positive integer/],
    [['--upload-mib', '200', '--buffered-mib', '100'], /--upload-mib \(200\) is more than --buffered-mib \(100\)/],
  ])('%j is a usage error', (args, message) => {
    const r = spawnSync(process.execPath, [...serveArgs, ...args, '--model', tinyModel()], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('--upload-mib reaches the server: a larger upload gets 413', async () => {
    const child: ChildProcess = spawn(
      process.execPath,
      [...serveArgs, '--model', tinyModel(), '--port', '0', '--upload-mib', '0.001'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const url = await new Promise<string>((ok, fail) => {
        let out = '';
        child.stdout!.on('data', (c: Buffer) => {
          out += c.toString();
          const m = /serving on (\S+)/.exec(out);
          if (m) ok(m[1]!);
        });
        child.on('exit', (code) => fail(new Error(`serve exited with ${code}`)));
      });
      const big = await fetch(new URL('/api/predict', url), {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: new Uint8Array(4096),
      });
      expect(big.status).toBe(413);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
