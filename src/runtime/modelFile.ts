/**
 * Trained model files: a model.onnx written by this project carries its config in its metadata and
 * its trained weights as initializers. Resolving --model (file, fold folder or run folder), reading
 * both back, and copying the weights by name into another graph of the same config (the MC-Dropout
 * model is rebuilt this way) are shared by predict, uncertainty, evaluate and the server.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import onnxProto from 'onnx-proto';
import type { Graph } from '../graphBuilder/graph.js';
import { METADATA } from '../graphBuilder/graphIO.js';
import type { ModelConfig } from '../graphBuilder/models.js';
import { numel } from '../graphBuilder/types.js';

const { onnx } = onnxProto;

export class PredictError extends Error {
  override name = 'PredictError';
}

/** A trained model.onnx, a fold folder holding one, or a run folder (then fold-0/model.onnx). */
export function resolveModelPath(path: string): string {
  if (!existsSync(path)) throw new PredictError(`--model ${path} does not exist`);
  if (statSync(path).isFile()) return path;
  for (const candidate of [join(path, 'model.onnx'), join(path, 'fold-0', 'model.onnx')])
    if (existsSync(candidate)) return candidate;
  throw new PredictError(`--model ${path} is a folder without model.onnx or fold-0/model.onnx`);
}

export interface TrainedModel {
  path: string;
  config: ModelConfig;
  /** Every float initializer of the file by name (trained weights and float constants). */
  weights: Map<string, { shape: number[]; data: Float32Array }>;
}

function floatData(t: onnxProto.onnx.ITensorProto, count: number, where: string): Float32Array {
  if (t.rawData?.length) {
    if (t.rawData.length !== count * 4)
      throw new PredictError(`${where}: ${t.rawData.length} bytes of raw data for ${count} float32 values`);
    const bytes = Uint8Array.from(t.rawData); // aligned copy
    const view = new DataView(bytes.buffer);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }
  const values = t.floatData ?? [];
  if (values.length !== count) throw new PredictError(`${where}: ${values.length} float values for ${count}`);
  return Float32Array.from(values);
}

/** How a model is named to users: "<run> (fold k)" for a run's <run>/fold-k/model.onnx, else its file name. */
export function modelLabel(path: string): string {
  const full = resolve(path);
  const fold = /^fold-(\d+)$/.exec(basename(dirname(full)));
  return fold ? `${basename(dirname(dirname(full)))} (fold ${fold[1]})` : basename(full);
}

/** Read config (metadata_props `config`) and float initializers from a trained inference model. */
export function loadTrainedModel(path: string): TrainedModel {
  let proto: InstanceType<typeof onnx.ModelProto>;
  try {
    proto = onnx.ModelProto.decode(readFileSync(path));
  } catch (e) {
    throw new PredictError(`--model ${path} is not an ONNX model: ${(e as Error).message}`);
  }
  const entry = proto.metadataProps.find((m) => m.key === METADATA.config);
  if (!entry?.value)
    throw new PredictError(`--model ${path} has no "config" in its metadata: not a model written by this project`);
  let config: ModelConfig;
  try {
    config = JSON.parse(entry.value) as ModelConfig;
  } catch (e) {
    throw new PredictError(`--model ${path}: its metadata "config" is not JSON: ${(e as Error).message}`);
  }
  if (!config?.unet || typeof config.imageSize !== 'number')
    throw new PredictError(`--model ${path}: its metadata "config" is not a model config`);
  const weights: TrainedModel['weights'] = new Map();
  for (const t of proto.graph?.initializer ?? []) {
    if (t.dataType !== 1 || !t.name) continue; // float32 only
    const shape = (t.dims ?? []).map(Number);
    weights.set(t.name, { shape, data: floatData(t, numel(shape), `--model ${path}: initializer ${t.name}`) });
  }
  return { path, config, weights };
}

/**
 * Copy weights into a graph's trainable initializers by name. Throws naming every parameter that is
 * missing from `weights` or whose shape differs.
 */
export function copyWeightsByName(
  g: Graph,
  weights: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>,
  source = 'the weights',
): number {
  const problems: string[] = [];
  let copied = 0;
  for (const p of g.initializers.filter((i) => i.trainable)) {
    const w = weights.get(p.name);
    if (!w) problems.push(`${p.name} [${p.shape.join(',')}] is missing`);
    else if (w.shape.join() !== p.shape.join() || w.data.length !== numel(p.shape))
      problems.push(`${p.name} is [${w.shape.join(',')}] in ${source}, [${p.shape.join(',')}] in ${g.name}`);
    else {
      (p.constant.data as Float32Array).set(w.data);
      copied++;
    }
  }
  if (problems.length) {
    const shown = problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; … (${problems.length} in all)` : '');
    throw new PredictError(`${source} do not fit ${g.name}: ${shown}`);
  }
  return copied;
}
