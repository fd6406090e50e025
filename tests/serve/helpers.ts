import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildInferenceModel, presetConfig } from '../../src/graphBuilder/models.js';
import { serialize } from '../../src/graphBuilder/serialize.js';

/** An untrained tiny inference model (32²) written to a temp folder; returns its path. */
export function tinyModel(): string {
  const dir = mkdtempSync(join(tmpdir(), 'polyseg-serve-'));
  const path = join(dir, 'model.onnx');
  writeFileSync(path, serialize(buildInferenceModel(presetConfig('tiny', { imageSize: 32 }))));
  return path;
}
