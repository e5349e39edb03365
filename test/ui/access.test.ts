/**
 * The dashboard in Chromium, against a real server with its embedded agent: who gets in, what a
 * viewer may do, and axe-core's accessibility check on every page (light and dark theme).
 * One server and one browser for the file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { hasChromium, login, newContext, seriousViolations, submitToken, visit } from './browser.js';
import { startUiCloud, type UiCloud } from './cloud.js';
import { until } from '../helpers/processes.js';

const root = process.getuid?.() === 0;
const PROJECT = 'shop';
let cloud: UiCloud;
let viewerToken: string;

/** Names of buttons that change something: a viewer must see none of them. */
const WRITE_BUTTON = /^(create|new|add|delete|remove|revoke|scale|restart|roll ?back|rollback|apply|plan|drain|cordon|uncordon|save|import|invite|upload)\b/i;

/** The hrefs of the main navigation's links, in order. */
async function navPaths(page: Page): Promise<string[]> {
  const links = page.getByRole('navigation', { name: 'Main' }).getByRole('link');
  return (await links.evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).pathname)));
}

beforeAll(async () => {
  if (!hasChromium() || !root) return;
  cloud = await startUiCloud({ agent: true, name: 'ui-access' });
  const { admin } = cloud;
  expect((await admin('POST', '/v1/projects', { kind: 'project', metadata: { name: PROJECT }, spec: {} })).status).toBe(201);
  const stack = `name: demo\nservices:\n  web:\n    replicas: 2\n    template:\n      driver: process\n      command: [sh, -c, "echo hello from web; exec sleep 3600"]\n      resources: {cpu: 10m, memory: 16Mi}\n`;
  expect((await admin('POST', `/v1/projects/${PROJECT}/stacks/demo/apply`, { files: [{ name: 'demo.yaml', text: stack }] })).status).toBe(200);
  await until('2 replicas running', () => admin('GET', `/v1/projects/${PROJECT}/instances`).then((r) => r.body.items.filter((i: { status?: { phase?: string } }) => i.status?.phase === 'Running').length), (n) => n === 2, 60_000);
  const tok = await admin('POST', '/v1/tokens', { roles: [{ project: PROJECT, role: 'viewer' }] });
  expect(tok.status).toBe(201);
  viewerToken = tok.body.secret;
}, 120_000);

afterAll(async () => {
  await cloud?.close([PROJECT]);
}, 120_000);

describe.skipIf(!hasChromium() || !root)('dashboard: access and accessibility (Chromium)', { timeout: 120_000 }, () => {
  it('tells a wrong token why it was refused, and keeps it out of the URL', async () => {
    const context = await newContext(cloud.browser, cloud.server.url);
    try {
      const page = await context.newPage();
      await page.goto('/ui/');
      await submitToken(page, 'stratus_not-a-real-token');
      await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/did not accept this token/);
      expect(await page.getByRole('navigation', { name: 'Main' }).count()).toBe(0);
      expect(page.url()).not.toContain('not-a-real-token');
      expect(await page.evaluate(() => sessionStorage.getItem('stratus.token'))).toBeNull();
    } finally {
      await context.close();
    }
  });

  it('shows a viewer every page without a button that would change something', async () => {
    const context = await newContext(cloud.browser, cloud.server.url);
    try {
      const page = await login(context, viewerToken);
      await expect.poll(() => page.locator('header').textContent()).toMatch(/viewer/);
      const offending: string[] = [];
      const paths = [...(await navPaths(page)), ...(await objectPaths())];
      expect(paths.length).toBeGreaterThan(4);
      for (const path of paths) {
        await visit(page, path);
        const names = await page.getByRole('button').evaluateAll((bs) => bs.map((b) => b.getAttribute('aria-label') ?? b.textContent?.trim() ?? ''));
        offending.push(...names.filter((n) => WRITE_BUTTON.test(n)).map((n) => `${path}: "${n}"`));
      }
      expect(offending).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("puts the API's refusal beside the field it names", async () => {
    const context = await newContext(cloud.browser, cloud.server.url);
    try {
      const page = await login(context, cloud.server.token);
      await page.getByRole('combobox', { name: 'Project' }).selectOption(PROJECT);
      await visit(page, '/ui/stacks');
      const editor = page.getByRole('form', { name: 'Stack editor' });
      await editor.getByLabel('Stack name').fill('broken');
      const yaml = editor.getByLabel('Stack file (YAML)');
      await yaml.fill('name: broken\nservices:\n  web:\n    replicas: lots\n    template: {driver: process, command: [sleep, "1"]}\n');
      await editor.getByRole('button', { name: 'Plan' }).click();
      // the server read the file (the browser does not parse YAML) and named the line and field
      await expect.poll(() => yaml.getAttribute('aria-invalid')).toBe('true');
      const described = await yaml.evaluate((el) => (el.getAttribute('aria-describedby') ?? '').split(' ').map((id) => document.getElementById(id)?.textContent ?? '').join(' '));
      expect(described).toMatch(/replicas/);
      expect(described).toMatch(/lots|integer|number/i);
      expect((await cloud.admin('GET', `/v1/projects/${PROJECT}/stacks/broken`)).status).toBe(404);
    } finally {
      await context.close();
    }
  });

  it('has no serious or critical axe-core violations on any page, light or dark', async () => {
    const found: string[] = [];
    for (const colorScheme of ['light', 'dark'] as const) {
      const context: BrowserContext = await newContext(cloud.browser, cloud.server.url, { colorScheme });
      try {
        const login0 = await context.newPage();
        await login0.goto('/ui/');
        found.push(...(await seriousViolations(login0)).map((v) => `${colorScheme} login: ${v.id} (${v.impact}) ${v.help}: ${v.targets.join(', ')}`));
        const page = await login(context, cloud.server.token);
        for (const path of [...(await navPaths(page)), ...(await objectPaths())]) {
          await visit(page, path);
          found.push(...(await seriousViolations(page)).map((v) => `${colorScheme} ${path}: ${v.id} (${v.impact}) ${v.help}: ${v.targets.join(', ')}`));
        }
      } finally {
        await context.close();
      }
    }
    expect(found).toEqual([]);
  });
});

/** The pages of one object of each kind that has one: a replica, the node, the service, the stack, the project. */
async function objectPaths(): Promise<string[]> {
  const items = (await cloud.admin('GET', `/v1/projects/${PROJECT}/instances`)).body.items as { metadata: { name: string } }[];
  return [
    `/ui/projects/${PROJECT}/instances/${items[0]!.metadata.name}`,
    `/ui/nodes/${cloud.node}`,
    `/ui/projects/${PROJECT}/services/web`,
    `/ui/projects/${PROJECT}/stacks/demo`,
    `/ui/projects/${PROJECT}`,
  ];
}
