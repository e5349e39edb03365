import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Applies to every TypeScript file, and is repeated in each layer's rule (a later block replaces the whole rule). */
const CHILD_PROCESS = { group: ['child_process'], message: 'use node:child_process with argument arrays' };

/**
 * The layers of src/ and what each may import (besides itself and src/version.ts):
 *
 *   model ← store ← runtime ← policy ← api, scheduler, controllers ← server ← cli
 *   client ← model                       node (agent, drivers, dataplane) ← model + client
 *
 * api, scheduler and controllers are peers and never import one another. Tests (*.test.ts) are
 * exempt: they assemble whole servers. src/README.md explains the layers.
 */
export const LAYERS = {
  model: [],
  client: ['model'],
  store: ['model'],
  runtime: ['model', 'store'],
  policy: ['model', 'store', 'runtime'],
  api: ['model', 'store', 'runtime', 'policy', 'client'],
  scheduler: ['model', 'store', 'runtime', 'policy'],
  controllers: ['model', 'store', 'runtime', 'policy'],
  node: ['model', 'client'],
  server: ['model', 'store', 'runtime', 'policy', 'client', 'api', 'scheduler', 'controllers', 'node'],
  cli: ['model', 'store', 'runtime', 'policy', 'client', 'api', 'scheduler', 'controllers', 'node', 'server'],
};

/** How deep below a layer's folder files may sit and still be checked (src/<layer>/a/b/.../file.ts). */
const MAX_DEPTH = 8;

/** Store calls that only src/store/ makes; everyone else goes through the repository or store/records.ts. */
const BACKEND_CALL = /^(get|range|count|txn|watch|compact|compactedRevision|revision|leaseGrant|leaseKeepAlive|leaseRevoke)$/;

/** What only src/store/ does: call the backend. */
const BACKEND_CALLS = {
  selector: `CallExpression[callee.property.name=${BACKEND_CALL}][callee.object.property.name='backend'], CallExpression[callee.property.name=${BACKEND_CALL}][callee.object.name='backend']`,
  message: 'no backend calls outside src/store/: use the repository (repo.get/list/watch/revision/count) or its records (repo.records, keys from model/keyspace.ts)',
};

/** What only model/keyspace.ts does: spell a store key. */
const KEY_LITERALS = {
  selector: 'Literal[value=/^\\/(registry|internal|audit|scheduler)\\//], TemplateElement[value.raw=/^\\/(registry|internal|audit|scheduler)\\//]',
  message: 'store keys are built in src/model/keyspace.ts only',
};

/** What only src/client/ does (and src/api/, which defines the routes): spell an API path. */
const API_PATHS = {
  selector: 'Literal[value=/^\\/v1\\//], TemplateElement[value.raw=/^\\/v1\\//]',
  message: 'API paths are built in src/client/ only (paths.ts): call the typed client (client.resources(kind, project), client/routes.ts)',
};

/** The layers that spell API paths: the client builds them, the API defines its routes. */
const SPELL_API_PATHS = ['client', 'api'];

/** Test support beside the code (fakes of the API, as tests are): exempt from the API path rule only. */
const TEST_SUPPORT = ['**/testing.ts', '**/*-testing.ts', '**/testing-*.ts'];

/**
 * One block per (layer, depth): a file `depth` folders below src/ reaches another top folder of
 * src/ with exactly `depth` "../", so the pattern names the folder exactly (no false match on a
 * nested folder that shares a top folder's name). Static imports (import, export ... from,
 * import type) and dynamic import() are both checked.
 */
function layerRules() {
  const blocks = [];
  for (const [layer, allowed] of Object.entries(LAYERS)) {
    const forbidden = Object.keys(LAYERS).filter((l) => l !== layer && !allowed.includes(l));
    const message = allowed.length === 0
      ? `src/${layer} imports nothing from the other folders of src/ (the layer rules: src/README.md, eslint.config.js LAYERS)`
      : `src/${layer} may import only ${allowed.map((l) => `src/${l}`).join(', ')} (the layer rules: src/README.md, eslint.config.js LAYERS)`;
    for (let depth = 1; depth <= MAX_DEPTH; depth++) {
      const regex = `^${'\\.\\./'.repeat(depth)}(${forbidden.join('|')})(/|$)`;
      const files = [`src/${layer}/${'*/'.repeat(depth - 1)}*.ts`];
      const imports = forbidden.length === 0 ? [] : [{ selector: `ImportExpression[source.value=/${regex.replaceAll('/', '\\/')}/]`, message }];
      const rules = (apiPaths) => ({
        'no-restricted-imports': ['error', { patterns: [CHILD_PROCESS, ...(forbidden.length === 0 ? [] : [{ regex, message }])] }],
        'no-restricted-syntax': ['error', ...imports, ...(layer === 'store' ? [] : [BACKEND_CALLS, KEY_LITERALS]), ...apiPaths],
      });
      const apiPaths = SPELL_API_PATHS.includes(layer) ? [] : [API_PATHS];
      blocks.push({ files, ignores: ['**/*.test.ts', ...TEST_SUPPORT], rules: rules(apiPaths) });
      blocks.push({ files: TEST_SUPPORT.map((t) => `src/${layer}/${'*/'.repeat(depth - 1)}${t.slice(3)}`), ignores: ['**/*.test.ts'], rules: rules([]) });
      // The keyspace is where keys are spelled.
      if (layer === 'model' && depth === 1) blocks.push({ files: ['src/model/keyspace.ts'], rules: { 'no-restricted-syntax': ['error', ...imports, BACKEND_CALLS, API_PATHS] } });
    }
  }
  return blocks;
}

export default tseslint.config(
  { ignores: ['dist/**', 'dist.*/**', 'node_modules/**', 'web/dist/**', '.scratch/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': ['error', { patterns: [CHILD_PROCESS] }],
      eqeqeq: ['error', 'always'],
      'max-lines': ['warn', { max: 450, skipBlankLines: true, skipComments: true }],
    },
  },
  ...layerRules(),
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
