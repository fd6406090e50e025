/**
 * The one place that fixes the ONNX versions every graph is written with.
 *
 * IR version 8, opset 17. onnxruntime 1.30 (node and web) would accept up to IR 13 / opset 26,
 * but the official ONNX checker we validate with in CI (Debian bookworm's python3-onnx 1.12)
 * accepts at most IR 8 / opset 17, and opset 17 already has everything we emit: Dropout-13 with
 * its ratio and training_mode inputs, ReduceSum-13 with axes as an input, BatchNormalization-15.
 * GroupNormalization only arrives in opset 18, so group norm is composed from primitives
 * (which also keeps its gradient to rules we already have).
 * Ops whose signature changed across versions and that we rely on:
 *   ReduceMean / ReduceMax: axes is an attribute up to opset 17 (an input from 18).
 *   Unsqueeze / Squeeze / ReduceSum: axes is an input since opset 13.
 */
export const IR_VERSION = 8;
export const OPSET = 17;
export const PRODUCER = 'polyseg-graphbuilder';
