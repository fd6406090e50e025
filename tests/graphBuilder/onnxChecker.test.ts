/**
 * Every graph we ship passes the official ONNX checker with full shape inference, and ONNX's own
 * shape inference agrees with ours on every value. Uses Debian's python3-onnx (test-only; .ci/run
 * installs it). Covers each norm on the tiny and small presets: the paper preset differs from
 * small only in widths.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shippedGraphs } from '../../src/graphBuilder/artifacts.js';
import { presetConfig } from '../../src/graphBuilder/models.js';
import { serialize } from '../../src/graphBuilder/serialize.js';

const PYTHON = process.env.ONNX_PYTHON ?? '/usr/bin/python3';

describe('official ONNX checker', () => {
  it('accepts every shipped graph and infers the same shapes as we do', () => {
    const dir = mkdtempSync(join(tmpdir(), 'onnx-check-'));
    const files: string[] = [];
    for (const preset of ['tiny', 'small'] as const) {
      for (const norm of ['none', 'batch', 'group'] as const) {
        for (const g of shippedGraphs(presetConfig(preset, { batch: 2, samples: 3, unet: { norm } }))) {
          const file = join(dir, `${preset}-${norm}-${g.name}.onnx`);
          writeFileSync(file, serialize(g));
          files.push(file);
        }
      }
    }
    let out: string;
    try {
      out = execFileSync(PYTHON, ['tests/graphBuilder/check_onnx.py', ...files], { encoding: 'utf8' });
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; message: string };
      throw new Error(
        `ONNX checker failed (needs Debian's python3-onnx at ${PYTHON}):\n${err.stdout ?? ''}${err.stderr ?? err.message}`,
      );
    }
    const results = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { file: string; ok: boolean; values: number; unknown: string[] });
    expect(results).toHaveLength(files.length);
    for (const r of results) {
      expect(r.ok, JSON.stringify(r)).toBe(true);
      expect(r.values).toBeGreaterThan(10);
      expect(r.unknown, `${r.file}: ONNX inferred no shape for these`).toEqual([]);
    }
  });
});
