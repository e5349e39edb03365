#!/usr/bin/env node
/* global sessionStorage -- the function given to the page runs in the browser */
// Screenshots of the dashboard's main pages into docs/ui/*.png (shown in the README), taken in
// Debian's Chromium against a real server with a small demo cloud: a project "shop" with a stack
// (a 3-replica service and a worker), an instance too large for the node (pending, with the
// scheduler's reason) and a teammate's viewer token. With root the server runs its embedded agent
// (real processes); without, the instances stay Pending.
//
//   npm run screenshots            (= npm run build && node --import tsx scripts/screenshots.mjs)
//   node --import tsx scripts/screenshots.mjs [--out DIR] [--only overview,instances]
//
// Needs /usr/bin/chromium (scripts/install-deps.sh --test). Overwrites the files it writes.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { login, newContext, visit } from '../test/ui/browser.ts';
import { startUiCloud } from '../test/ui/cloud.ts';
import { until } from '../test/helpers/processes.ts';

const ROOT = resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { out: { type: 'string', default: join(ROOT, 'docs', 'ui') }, only: { type: 'string' } } });
const root = process.getuid?.() === 0;
const PROJECT = 'shop';

const STACK = `name: shop
services:
  web:
    replicas: 3
    template:
      driver: process
      command: [sh, -c, "echo listening on :8080; exec sleep 3600"]
      resources: {cpu: 100m, memory: 64Mi}
      health: {command: ["true"], interval: 5, timeout: 1}
  worker:
    replicas: 1
    template:
      driver: process
      command: [sh, -c, "while true; do echo processed order $RANDOM; sleep 2; done"]
      resources: {cpu: 50m, memory: 32Mi}
`;

/** The demo: project, stack, a pending instance, a viewer token. */
async function seed(cloud) {
  const { admin } = cloud;
  const ok = (res, what) => {
    if (res.status >= 300) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
    return res;
  };
  ok(await admin('POST', '/v1/projects', { kind: 'project', metadata: { name: PROJECT }, spec: { displayName: 'Web shop' } }), 'project');
  ok(await admin('POST', `/v1/projects/${PROJECT}/stacks/shop/apply`, { files: [{ name: 'shop.yaml', text: STACK }] }), 'stack');
  ok(await admin('POST', `/v1/projects/${PROJECT}/instances`, { kind: 'instance', metadata: { name: 'batch-big' }, spec: { driver: 'process', command: ['sleep', '60'], resources: { cpu: '64', memory: '1Gi' } } }), 'instance');
  ok(await admin('POST', '/v1/tokens', { roles: [{ project: PROJECT, role: 'viewer' }] }), 'token');
  if (root) {
    await until('the stack running', () => admin('GET', `/v1/projects/${PROJECT}/instances`).then((r) => r.body.items.filter((i) => i.status?.phase === 'Running').length), (n) => n === 4, 60_000);
  }
}

/** Name → path below the server; object pages name the demo's objects. */
async function shots(cloud) {
  const items = (await cloud.admin('GET', `/v1/projects/${PROJECT}/instances?selector=stratus.io%2Fservice%3Dweb`)).body.items;
  return [
    ['overview', '/ui/'],
    ['instances', '/ui/instances'],
    ...(items[0] ? [['instance', `/ui/projects/${PROJECT}/instances/${items[0].metadata.name}`]] : []),
    ['nodes', '/ui/nodes'],
    ...(cloud.node ? [['node', `/ui/nodes/${cloud.node}`]] : []),
    ['services', '/ui/services'],
    ['service', `/ui/projects/${PROJECT}/services/web`],
    ['stacks', '/ui/stacks'],
    ['projects', `/ui/projects/${PROJECT}`],
    ['events', '/ui/events'],
  ];
}

async function main() {
  const only = values.only?.split(',');
  mkdirSync(values.out, { recursive: true });
  const cloud = await startUiCloud({ agent: root, name: 'screens' });
  try {
    await seed(cloud);
    for (const colorScheme of ['light', 'dark']) {
      const context = await newContext(cloud.browser, cloud.server.url, { colorScheme });
      await context.addInitScript((p) => sessionStorage.setItem('stratus.project', p), PROJECT);
      const page = await login(context, cloud.server.token);
      for (const [name, path] of await shots(cloud)) {
        // the dark theme once, on the overview
        if ((only && !only.includes(name)) || (colorScheme === 'dark' && name !== 'overview')) continue;
        await visit(page, path);
        await page.waitForTimeout(300); // the live lists' first events
        const file = join(values.out, `${name}${colorScheme === 'dark' ? '-dark' : ''}.png`);
        await page.screenshot({ path: file });
        console.log(`screenshots: ${file}`);
      }
      await context.close();
    }
  } finally {
    await cloud.close([PROJECT]);
  }
}

main().catch((e) => {
  console.error(`screenshots: ${e.message}`);
  process.exit(1);
});
