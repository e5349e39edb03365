/**
 * A person's first session with the dashboard, in Chromium, against a real server with its
 * embedded agent running real processes: log in, create a project, apply a stack from the YAML
 * editor and watch its service become ready without reloading, scale it to 3, roll it back, read
 * a replica's logs, filter the instances (a new one appears live), drain the node and see why the
 * replicas now wait. One server and one browser;
 * the steps share one page and run in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { hasChromium, login, newContext } from './browser.js';
import { startUiCloud, type UiCloud } from './cloud.js';

const root = process.getuid?.() === 0;
const PROJECT = 'shop';
let cloud: UiCloud;
let page: Page;

const stack = (version: string) => `name: demo
services:
  web:
    replicas: 2
    template:
      driver: process
      command: [sh, -c, "echo hello ${version}; exec sleep 3600"]
      resources: {cpu: 10m, memory: 16Mi}
      health: {command: ["true"], interval: 1, timeout: 1}
    update: {maxSurge: 1, maxUnavailable: 1}
`;

/** The rollout bar of service web, as its words ("revision 1: 2 of 2 replicas available"). */
const rollout = () => page.getByRole('progressbar', { name: 'Rollout of web' }).first().getAttribute('aria-valuetext');

/** Navigates through the main navigation (no page load). */
async function nav(label: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click();
  await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe(label);
}

beforeAll(async () => {
  if (!hasChromium() || !root) return;
  cloud = await startUiCloud({ agent: true, name: 'ui-flow' });
  page = await login(await newContext(cloud.browser, cloud.server.url), cloud.server.token);
  // a reload would lose this: the steps below check that everything they see arrived live
  await page.evaluate(() => { (window as unknown as { unreloaded: boolean }).unreloaded = true; });
}, 60_000);

afterAll(async () => {
  await cloud?.close([PROJECT]);
}, 120_000);

describe.skipIf(!hasChromium() || !root)('dashboard: a first session (Chromium, real agent)', { timeout: 120_000 }, () => {
  it('logs in as a cluster admin and says so', async () => {
    await expect.poll(() => page.getByLabel('Signed in as').textContent()).toMatch(/cluster admin/);
  });

  it('creates a project and switches to it', async () => {
    await nav('Projects');
    const form = page.getByRole('form', { name: 'New project' });
    await form.getByLabel('Name', { exact: true }).fill(PROJECT);
    await form.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('table', { name: 'Projects' }).getByRole('link', { name: PROJECT, exact: true }).waitFor();
    expect((await cloud.admin('GET', `/v1/projects/${PROJECT}`)).status).toBe(200);
    await page.getByRole('combobox', { name: 'Project' }).selectOption(PROJECT);
  });

  it('plans and applies a stack from the YAML editor, and the service becomes ready live', async () => {
    await nav('Stacks');
    const editor = page.getByRole('form', { name: 'Stack editor' });
    await editor.getByLabel('Stack name').fill('demo');
    await editor.getByLabel('Stack file (YAML)').fill(stack('v1'));
    await editor.getByRole('button', { name: 'Plan' }).click();
    await expect.poll(() => page.getByRole('list', { name: 'Planned changes' }).textContent()).toMatch(/web/);
    await editor.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(rollout, { timeout: 60_000 }).toMatch(/^revision 1: 2 of 2 replicas available$/);
    expect(await page.evaluate(() => (window as unknown as { unreloaded?: boolean }).unreloaded)).toBe(true);
  });

  it('scales the service to 3', async () => {
    await nav('Services');
    await page.getByRole('table', { name: 'Services' }).getByRole('link', { name: 'web', exact: true }).click();
    const form = page.getByRole('form', { name: 'Scale service web' });
    await form.getByLabel('Replicas').fill('3');
    await form.getByRole('button', { name: 'Scale' }).click();
    await expect.poll(rollout, { timeout: 60_000 }).toMatch(/: 3 of 3 replicas available$/);
    await expect.poll(() => page.getByRole('table', { name: 'Replicas of web' }).locator('tbody tr').count(), { timeout: 30_000 }).toBe(3);
  });

  it('rolls back to the first version after a confirmation', async () => {
    // a second version, applied as a teammate would from the CLI
    expect((await cloud.admin('POST', `/v1/projects/${PROJECT}/stacks/demo/apply`, { files: [{ name: 'demo.yaml', text: stack('v2').replace('replicas: 2', 'replicas: 3') }] })).status).toBe(200);
    await expect.poll(rollout, { timeout: 60_000 }).toMatch(/^revision 2: 3 of 3 replicas available$/);
    await page.getByRole('button', { name: 'Roll back to revision 1' }).click();
    const dialog = page.getByRole('dialog', { name: 'Roll back web?' });
    await dialog.getByRole('button', { name: 'Roll back to revision 1' }).click();
    await expect.poll(rollout, { timeout: 60_000 }).toMatch(/^revision 1: 3 of 3 replicas available$/);
    const svc = await cloud.admin('GET', `/v1/projects/${PROJECT}/services/web`);
    expect(svc.body.spec.template.spec.command.join(' ')).toContain('hello v1');
  });

  it("reads a replica's logs", async () => {
    const replicas = page.getByRole('table', { name: 'Replicas of web' });
    await expect.poll(() => replicas.locator('tbody tr').count(), { timeout: 60_000 }).toBe(3);
    await replicas.getByRole('link').first().click();
    await expect.poll(() => page.getByRole('log', { name: 'Logs' }).textContent(), { timeout: 30_000 }).toContain('hello v1');
    await page.getByRole('searchbox', { name: 'Search logs' }).fill('hello');
    await expect.poll(() => page.getByRole('log', { name: 'Logs' }).textContent()).toContain('hello v1');
  });

  it('filters the instances by label and phase, and a new one appears live', async () => {
    await nav('Instances');
    const table = page.getByRole('table', { name: 'Instances' });
    const filters = page.getByRole('search', { name: 'Filter instances' });
    const selector = filters.getByLabel('Label selector');
    await selector.fill('stratus.io/service=web');
    await selector.press('Tab');
    await expect.poll(() => table.getByRole('link', { name: /^web-/ }).count(), { timeout: 30_000 }).toBe(3);
    await filters.getByLabel('Phase').selectOption('Pending');
    await expect.poll(() => table.getByRole('link', { name: /^web-/ }).count()).toBe(0);
    await filters.getByLabel('Phase').selectOption('');
    await selector.fill('app=late');
    await selector.press('Tab');
    await expect.poll(() => page.url()).toContain('selector=app%3Dlate');
    const late = { kind: 'instance', metadata: { name: 'late', labels: { app: 'late' } }, spec: { driver: 'process', command: ['sleep', '3600'], resources: { cpu: '10m', memory: '16Mi' } } };
    expect((await cloud.admin('POST', `/v1/projects/${PROJECT}/instances`, late)).status).toBe(201);
    await table.getByRole('link', { name: 'late', exact: true }).waitFor({ timeout: 30_000 });
    expect(await table.getByRole('link', { name: /^web-/ }).count()).toBe(0);
  });

  it("drains the node, and a replica left pending says why", async () => {
    await nav('Nodes');
    await page.getByRole('table', { name: 'Nodes' }).getByRole('link', { name: cloud.node!, exact: true }).click();
    await page.getByRole('button', { name: 'Drain', exact: true }).click();
    await page.getByRole('dialog', { name: `Drain node ${cloud.node}?` }).getByRole('button', { name: 'Drain' }).click();
    await nav('Overview');
    const pending = page.getByRole('table', { name: 'Pending instances' });
    await expect.poll(() => pending.locator('tbody tr td a').count(), { timeout: 60_000 }).toBeGreaterThan(0);
    // until the scheduler has tried it, the cell shows the instance's own message ("... is draining")
    await expect.poll(() => pending.locator('tbody tr').first().locator('td').last().textContent(), { timeout: 60_000 }).toMatch(/node is cordoned/);
    expect(await page.evaluate(() => (window as unknown as { unreloaded?: boolean }).unreloaded)).toBe(true);
  });
});
