/**
 * What the autodiff engine (autodiff.ts) and the per-op gradient rules (gradients.ts) share: the
 * context a rule sees and the table's entry types. A module of its own so that the engine imports
 * the rules and the rules import nothing of the engine.
 */
import type { Graph, Node } from './graph.js';
import type { OpType } from './ops.js';
import type { Value } from './types.js';

/** What the rule of op T sees: its node, with T's attributes (a Conv rule reads `node.attrs.pads`). */
export interface GradContext<T extends OpType = OpType> {
  readonly g: Graph;
  readonly node: Node<T>;
  /** d(loss)/d(output i); undefined where no gradient reaches that output. */
  readonly dy: readonly (Value | undefined)[];
  /** Which inputs need a gradient; a rule returns undefined for the others. */
  readonly wants: readonly boolean[];
  /** The contents of an int64 constant input (shape, axes, starts...); throws, naming the node, if `v` is none. */
  readonly constInts: (v: Value) => number[];
}

/** d(loss)/d(input i) for each input, in the output's (possibly broadcast) shape, or undefined. */
export type GradRule<T extends OpType = OpType> = (ctx: GradContext<T>) => readonly (Value | undefined)[];

/**
 * How op T is differentiated: by a rule; "none" (its outputs carry no gradient: comparisons,
 * masks); "forbidden" (it must never sit on a differentiated path).
 */
export type GradEntry<T extends OpType = OpType> =
  | { readonly kind: 'rule'; readonly rule: GradRule<T> }
  | { readonly kind: 'none'; readonly why: string }
  | { readonly kind: 'forbidden'; readonly why: string };

/** One entry per op: a missing op is a compile error, and the rule of op T gets T's node. */
export type GradTable = { readonly [T in OpType]: GradEntry<T> };
