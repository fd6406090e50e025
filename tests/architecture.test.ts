/**
 * The import rules of .dependency-cruiser.cjs (DESIGN.md's one direction, no cycles, no Node modules
 * in browser code), which `npm run lint` checks on the real tree: here they must catch a planted
 * upward import, a cycle and a Node import in page code.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const config = resolve('.dependency-cruiser.cjs');
const depcruise = resolve('node_modules/.bin/depcruise');

function cruise(files: Record<string, string>): { status: number | null; out: string } {
  const root = mkdtempSync(join(tmpdir(), 'arch-'));
  const compilerOptions = { module: 'NodeNext', moduleResolution: 'NodeNext', allowJs: true };
  writeFileSync(join(root, 'tsconfig.json'), JSON.stringify({ compilerOptions }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  const r = spawnSync(depcruise, ['src', '--config', config], { cwd: root, encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('import rules', () => {
  it('accept downhill imports', () => {
    const r = cruise({
      'src/uncertainty/a.ts': "import { b } from '../training/b.js';\nexport const a = b;\n",
      'src/training/b.ts': "import { c } from '../common/c.js';\nexport const b = c;\n",
      'src/common/c.ts': 'export const c = 1;\n',
    });
    expect(r.status, r.out).toBe(0);
  });

  it('refuse an upward import, a sibling import, a cycle and Node modules in page code', () => {
    const r = cruise({
      'src/training/up.ts': "import { y } from '../uncertainty/y.js';\nexport const x = y;\n",
      'src/uncertainty/y.ts': 'export const y = 1;\n',
      'src/runtime/r.ts': "import { d } from '../data/d.js';\nexport const r = d;\n",
      'src/data/d.ts': 'export const d = 1;\n',
      'src/common/p.ts': "import { q } from './q.js';\nexport const p = q;\n",
      'src/common/q.ts': "import { p } from './p.js';\nexport const q = () => p;\n",
      'src/serve/public/page.js': "import { readFileSync } from 'node:fs';\nexport const page = readFileSync;\n",
      'src/data/preprocess.ts': "import { d } from './d.js';\nexport const pre = d;\n",
    });
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/no-upward-from-training: src\/training\/up\.ts → src\/uncertainty\/y\.ts/);
    expect(r.out).toMatch(/no-upward-from-runtime: src\/runtime\/r\.ts → src\/data\/d\.ts/);
    expect(r.out).toMatch(/no-circular: src\/common\/[pq]\.ts/);
    expect(r.out).toMatch(/browser-no-node: src\/serve\/public\/page\.js → fs/);
    expect(r.out).toMatch(/preprocess-standalone: src\/data\/preprocess\.ts → src\/data\/d\.ts/);
  });
});
