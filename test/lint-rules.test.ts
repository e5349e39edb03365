/**
 * The import rules of src/ (src/README.md) hold because lint refuses what breaks them: this runs
 * the project's own ESLint configuration on code that imports upward, across peers, from the
 * node side into the control plane, calls the store backend directly, spells a store key or
 * an API path outside the client, and on code that does it right.
 */
import { describe, it, expect } from 'vitest';
import { join, resolve } from 'node:path';
import { ESLint } from 'eslint';

const ROOT = resolve(import.meta.dirname, '..');

/** What each top folder of src/ may import besides itself (the rule, written out). */
const MAY_IMPORT: Record<string, string[]> = {
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
const LAYERS = Object.keys(MAY_IMPORT);

const eslint = new ESLint({ cwd: ROOT });

/** The messages of the rules that guard the layers, for `code` as if it were the file `path`. */
async function problems(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, path) });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === 'no-restricted-syntax').map((m) => m.message);
}

describe('the import rules', () => {
  it('refuse a deliberate upward import with the rule\'s message', async () => {
    expect(await problems('src/model/x.ts', "export { buildApi } from '../api/server.js';\n"))
      .toEqual([expect.stringContaining('src/model imports nothing from the other folders of src/')]);
    expect(await problems('src/node/agent/x.ts', "import type { Repository } from '../../store/repository.js';\nexport type R = Repository;\n"))
      .toEqual([expect.stringContaining('src/node may import only src/model, src/client')]);
    expect(await problems('src/controllers/x.ts', "export { Admission } from '../api/server.js';\n"))
      .toEqual([expect.stringContaining('src/controllers may import only src/model, src/store, src/runtime, src/policy')]);
  });

  it('allow what the layers allow, from any depth', async () => {
    expect(await problems('src/node/agent/x.ts', "export { instanceKind } from '../../model/kinds/index.js';\nexport { ApiClient } from '../../client/index.js';\nexport { NodeNetworking } from '../network/node.js';\n")).toEqual([]);
    expect(await problems('src/controllers/network/x.ts', "export { Admission } from '../../policy/admission.js';\nexport { every } from '../../runtime/component.js';\n")).toEqual([]);
    expect(await problems('src/scheduler/engine/plugins/x.ts', "export { Repository } from '../../../store/repository.js';\n")).toEqual([]);
    expect(await problems('src/node/drivers/x.ts', "export { VERSION } from '../../version.js';\n")).toEqual([]);
  });

  it('hold for every pair of layers: an import is refused exactly when the rule forbids it', async () => {
    const wrong: string[] = [];
    for (const from of LAYERS) {
      for (const to of LAYERS) {
        if (to === from) continue;
        const refused = (await problems(`src/${from}/sub/x.ts`, `export * from '../../${to}/x.js';\n`)).length > 0;
        if (refused === MAY_IMPORT[from]!.includes(to)) wrong.push(`${from} → ${to}: ${refused ? 'refused' : 'allowed'}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('check dynamic imports too', async () => {
    expect(await problems('src/node/agent/x.ts', "export const load = () => import('../../store/repository.js');\n"))
      .toEqual([expect.stringContaining('src/node may import only src/model, src/client')]);
    expect(await problems('src/cli/commands/x.ts', "export const load = () => import('../../server/main.js');\n")).toEqual([]);
  });

  it('keep backend calls in src/store/ and store keys in model/keyspace.ts', async () => {
    const call = "declare const repo: { backend: { get(key: string): Promise<unknown> } };\nexport const v = repo.backend.get('k');\n";
    expect(await problems('src/policy/x.ts', call)).toEqual([expect.stringContaining('no backend calls outside src/store/')]);
    expect(await problems('src/store/x.ts', call)).toEqual([]);
    const key = "export const k = (name: string) => `/internal/things/${name}`;\n";
    expect(await problems('src/controllers/x.ts', key)).toEqual(['store keys are built in src/model/keyspace.ts only']);
    expect(await problems('src/model/keyspace.ts', key)).toEqual([]);
  });

  it('keep API paths in src/client/: a hand-built /v1/ path elsewhere fails lint', async () => {
    const literal = "declare const api: { get(path: string): Promise<unknown> };\nexport const me = api.get('/v1/whoami');\n";
    const template = "declare const api: { get(path: string): Promise<unknown> };\nexport const one = (p: string, n: string) => api.get(`/v1/projects/${p}/volumes/${n}`);\n";
    const message = expect.stringContaining('API paths are built in src/client/ only');
    expect(await problems('src/cli/commands/x.ts', literal)).toEqual([message]);
    expect(await problems('src/node/agent/x.ts', template)).toEqual([message]);
    expect(await problems('src/controllers/x.ts', template)).toEqual([message]);
    expect(await problems('src/model/keyspace.ts', literal)).toEqual([message]);
    // The client builds them, the API defines them; tests and test fakes beside the code may spell them.
    expect(await problems('src/client/x.ts', template)).toEqual([]);
    expect(await problems('src/api/routes/x.ts', template)).toEqual([]);
    expect(await problems('src/node/agent/x.test.ts', template)).toEqual([]);
    expect(await problems('src/node/agent/fake-testing.ts', template)).toEqual([]);
    // A fake beside the code still keeps the import rules.
    expect(await problems('src/node/agent/fake-testing.ts', "export { Repository } from '../../store/repository.js';\n"))
      .toEqual([expect.stringContaining('src/node may import only src/model, src/client')]);
    // Through the client, nothing to say.
    expect(await problems('src/cli/commands/x.ts', "import { paths } from '../../client/paths.js';\nexport const me = paths.whoami();\n")).toEqual([]);
  });

  it('leave tests free to assemble whole servers', async () => {
    expect(await problems('src/api/routes/x.test.ts', "export { startServer } from '../../server/main.js';\n")).toEqual([]);
  });
});
