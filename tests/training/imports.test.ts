/**
 * Imports run one way (DESIGN.md): training sits below uncertainty, so nothing in src/training/ may
 * import uncertainty/ or anything above it; the adaptive method reaches the trainer as an ε schedule.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ABOVE_TRAINING = ['uncertainty', 'evaluate', 'serve', 'study', 'bench', 'cli'];

describe('src/training imports', () => {
  it('nothing from uncertainty/ or the layers above it', () => {
    const dir = 'src/training';
    const offending = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => {
        const imports = [...readFileSync(join(dir, f), 'utf8').matchAll(/from '\.\.\/([\w-]+)\//g)].map((m) => m[1]!);
        return imports.filter((folder) => ABOVE_TRAINING.includes(folder)).map((folder) => `${f} imports ${folder}/`);
      });
    expect(offending).toEqual([]);
  });
});
