/**
 * The one naming authority of a graph. A scope stack gives hierarchical, deterministic names:
 * nodes `down2/conv1/Conv`, their outputs `down2/conv1/Conv_output_0`, parameters
 * `down2.conv1.weight`. A name is never handed out twice.
 */
export interface Names {
  /** Run `fn` inside scope `name`; the scope is popped even if `fn` throws. */
  scoped<T>(name: string, fn: () => T): T;
  /** A fresh node name `scope/Op`, suffixed `_1`, `_2`... on repeats. */
  node(op: string): string;
  /** The output value name of a node. */
  output(node: string, index: number): string;
  /** A parameter name `scope.local`; throws on a repeat (two weights, one name). */
  param(local: string): string;
  /** A constant's name `scope.local`, suffixed `_1`, `_2`... on repeats. */
  constant(local: string): string;
  /** Reserve an exact name (graph inputs and outputs); throws if taken. */
  exact(name: string): string;
}

export function createNames(): Names {
  const scopes: string[] = [];
  const taken = new Set<string>();
  const counts = new Map<string, number>();
  const claim = (name: string): string => {
    if (taken.has(name)) throw new Error(`name "${name}" is already used in this graph`);
    taken.add(name);
    return name;
  };
  const numbered = (base: string): string => {
    let n = counts.get(base) ?? 0;
    while (taken.has(n === 0 ? base : `${base}_${n}`)) n++;
    counts.set(base, n + 1);
    return claim(n === 0 ? base : `${base}_${n}`);
  };
  return {
    scoped(name, fn) {
      if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`scope name "${name}" must be [A-Za-z0-9_]+`);
      scopes.push(name);
      try {
        return fn();
      } finally {
        scopes.pop();
      }
    },
    node: (op) => numbered([...scopes, op].join('/')),
    constant: (local) => numbered([...scopes, local].join('.')),
    output: (node, index) => claim(`${node}_output_${index}`),
    param: (local) => claim([...scopes, local].join('.')),
    exact: claim,
  };
}
