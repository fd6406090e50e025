/**
 * The import direction of src/ (DESIGN.md), checked by `npm run lint` (part of `npm test`):
 *
 *   cli → study, bench → evaluate → serve → uncertainty → training → runtime, data → graphBuilder → common
 *
 * A folder imports only folders on a lower layer; folders on one layer (runtime and data, study and
 * bench) do not import each other. scripts/ and tests/ sit above everything. No import cycles at all,
 * and the code the browser runs (src/serve/public/, and src/data/preprocess.ts, which the server hands
 * to the page) imports no Node module.
 */
const LAYERS = [
  ['common'],
  ['graphBuilder'],
  ['runtime', 'data'],
  ['training'],
  ['uncertainty'],
  ['serve'],
  ['evaluate'],
  ['study', 'bench'],
  ['cli'],
];

const layerOf = new Map(LAYERS.flatMap((folders, layer) => folders.map((f) => [f, layer])));
const known = [...layerOf.keys()];

/** For each folder: no import of a folder on its own layer or above. */
const upward = known.map((folder) => {
  const above = known.filter((other) => other !== folder && layerOf.get(other) >= layerOf.get(folder));
  return {
    name: `no-upward-from-${folder}`,
    comment: `src/${folder} (layer ${layerOf.get(folder)}) may import only lower layers: ${LAYERS.map((l) => l.join(', ')).join(' < ')}`,
    severity: 'error',
    from: { path: `^src/${folder}/` },
    to: { path: `^src/(${above.join('|')})/` },
  };
});

module.exports = {
  forbidden: [
    ...upward.filter((rule) => !rule.to.path.endsWith('()/')),
    {
      name: 'no-unknown-folder',
      comment: `every folder of src/ has a layer in .dependency-cruiser.cjs (${known.join(', ')})`,
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: `^src/(${known.join('|')})/` },
    },
    {
      name: 'no-circular',
      comment: 'no import cycles, type-only imports included',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'browser-no-node',
      comment: 'code that runs in the page imports no Node module',
      severity: 'error',
      from: { path: '^src/serve/public/|^src/data/preprocess\\.ts$' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'preprocess-standalone',
      comment: 'the server serves src/data/preprocess.ts to the page on its own: it imports nothing',
      severity: 'error',
      from: { path: '^src/data/preprocess\\.ts$' },
      to: {},
    },
    {
      name: 'no-unresolvable',
      comment: 'every relative import resolves to a file',
      severity: 'error',
      from: { pathNot: '^src/serve/public/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs'] },
  },
};
