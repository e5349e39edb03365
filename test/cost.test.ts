/**
 * Costs end to end (issue 18): a real server whose store holds metered hours (written as the
 * meter writes them, runtime/metering-store.ts, while the server is stopped), a price list and an
 * enforced budget set through the API; `stratus cost report` shows the amounts the price list
 * gives, a member of another project sees nothing of this one, the budgets controller raises its
 * threshold events and the budget admission refuses new instances, and `stratus cost export
 * --format focus` writes CSV that parses back with the FOCUS columns, a hostile label intact.
 *
 * Metered hour H (the hour before now, or this hour early on the 1st), rates 1 EUR per core-hour
 * and 0.1 per GiB-hour:
 *   shop/web    2 cores reserved, 1 used; 4 GiB reserved, 2 used → charged 2 + 0.4 = 2.4
 *   shop/burst  2 cores reserved, 3 used; 4 GiB reserved, 2 used → charged 3 + 0.4 = 3.4
 *   other/job   1 core reserved, 1 used; 1 GiB reserved, 1 used  → charged 1 + 0.1 = 1.1
 * The shop's budget is 5 EUR: 5.8 spent is 116 %, every threshold crossed.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, client, type TestServer } from './helpers/server.js';
import { cliRunner } from './helpers/cli.js';
import { until } from './helpers/processes.js';
import { openBackend } from '../src/store/index.js';
import { meteringKeys } from '../src/model/keyspace.js';
import { HOUR_MS, hourOf } from '../src/model/metering.js';
import type { StoredInstance, StoredNodeHour, StoredProjectHour } from '../src/runtime/metering-store.js';
import { parseCsv } from '../src/model/csv.js';
import { FOCUS_COLUMNS } from '../src/model/cost-focus.js';

const now = Date.now();
const monthStart = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
const H = hourOf(now - HOUR_MS < monthStart ? now : now - HOUR_MS);
const DAY = H.slice(0, 10);
const NEXT_DAY = new Date(Date.parse(DAY) + 86_400_000).toISOString().slice(0, 10);
const EVIL = 'a,"b"\n=HYPERLINK("x")';

const row = (name: string, cores: [number, number], gib: [number, number], labels: Record<string, string> = {}): StoredInstance => ({
  name, uid: `uid-${name}`, node: 'n1', pool: 'general', driver: 'process', labels, seconds: 3600,
  cpuReservedSeconds: cores[0] * 3600, cpuSeconds: cores[1] * 3600, memoryReservedGiBSeconds: gib[0] * 3600, memoryGiBSeconds: gib[1] * 3600,
});

let server: TestServer;
let dir: string;
let admin: ReturnType<typeof client>;
let alice: ReturnType<typeof client>;
let tokens: { alice: string; mallory: string };
const cli = (token: string) => cliRunner(join(dir, `${token.slice(0, 8)}.json`), { STRATUS_SERVER: server.url, STRATUS_TOKEN: token });

async function writeMeterRecords(dataDir: string): Promise<void> {
  const backend = await openBackend(`sqlite://${join(dataDir, 'stratus.db')}`);
  try {
    const shop: StoredProjectHour = { instances: [row('web', [2, 1], [4, 2], { team: EVIL }), row('burst', [2, 3], [4, 2], { team: 'red' })], volumes: [] };
    const other: StoredProjectHour = { instances: [row('job', [1, 1], [1, 1])], volumes: [] };
    const nodes: StoredNodeHour = { nodes: [{ node: 'n1', pool: 'general', seconds: 3600, cpuCoreSeconds: 8 * 3600, memoryGiBSeconds: 16 * 3600 }] };
    const last = new Date(monthStart - HOUR_MS).toISOString(); // last month: not in this month's budget
    await backend.txn([
      { op: 'put', key: meteringKeys.project(H, 'shop', 0), value: JSON.stringify(shop) },
      { op: 'put', key: meteringKeys.project(H, 'other', 0), value: JSON.stringify(other) },
      { op: 'put', key: meteringKeys.nodes(H, 0), value: JSON.stringify(nodes) },
      { op: 'put', key: meteringKeys.project(last, 'shop', 0), value: JSON.stringify(shop) },
    ]);
  } finally {
    await backend.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-cost-'));
  server = await startTestServer();
  admin = client(server.url, server.token);
  for (const p of ['shop', 'other']) expect((await admin('POST', '/v1/projects', { kind: 'project', metadata: { name: p }, spec: {} })).status).toBe(201);
  for (const [user, project] of [['alice', 'shop'], ['mallory', 'other']]) {
    expect((await admin('POST', '/v1/users', { kind: 'user', metadata: { name: user }, spec: { roles: [{ project, role: 'admin' }] } })).status).toBe(201);
  }
  tokens = { alice: (await admin('POST', '/v1/tokens', { user: 'alice' })).body.secret, mallory: (await admin('POST', '/v1/tokens', { user: 'mallory' })).body.secret };
  const list = { kind: 'price-list', metadata: { name: 'standard' }, spec: { currency: 'EUR', effectiveFrom: new Date(monthStart - 31 * 86_400_000).toISOString(), prices: { cpuCoreHour: 1, memoryGiBHour: 0.1 } } };
  expect((await admin('POST', '/v1/price-lists', list)).status).toBe(201);
  expect((await admin('POST', '/v1/projects/shop/budgets', { kind: 'budget', metadata: { name: 'monthly' }, spec: { amount: 5, currency: 'EUR', enforce: true } })).status).toBe(201);
  await server.stop();
  await writeMeterRecords(server.dataDir);
  server = await startTestServer({ dataDir: server.dataDir, args: ['--budget-interval', '1s'] });
  admin = client(server.url, server.token);
  alice = client(server.url, tokens.alice);
}, 90_000);

afterAll(async () => {
  await server?.stop();
  server?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('price lists and budgets: who writes them, and validation naming the field', () => {
  it.each([
    [{ cpuCoreHour: -1 }, 'EUR', 'spec.prices.cpuCoreHour'],
    [{}, 'XYZ', 'spec.currency'],
  ])('prices %j in %s: 400 naming %s', async (prices, currency, field) => {
    const r = await admin('POST', '/v1/price-lists', { kind: 'price-list', metadata: { name: 'bad' }, spec: { currency, effectiveFrom: '2030-01-01T00:00:00Z', prices } });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toContain(field);
  });

  it('a budget in an unknown currency: 400 naming spec.currency', async () => {
    const r = await admin('POST', '/v1/projects/shop/budgets', { kind: 'budget', metadata: { name: 'odd' }, spec: { amount: 5, currency: 'XYZ' } });
    expect([r.status, JSON.stringify(r.body)]).toEqual([400, expect.stringContaining('spec.currency')]);
  });

  it('two lists may not start at the same hour, nor use another currency', async () => {
    const from = (await admin('GET', '/v1/price-lists/standard')).body.spec.effectiveFrom;
    const same = await admin('POST', '/v1/price-lists', { kind: 'price-list', metadata: { name: 'dup' }, spec: { currency: 'EUR', effectiveFrom: from, prices: {} } });
    expect([same.status, same.body.error.message]).toEqual([400, expect.stringContaining('spec.effectiveFrom')]);
    const usd = await admin('POST', '/v1/price-lists', { kind: 'price-list', metadata: { name: 'usd' }, spec: { currency: 'USD', effectiveFrom: '2030-01-01T00:00:00Z', prices: {} } });
    expect([usd.status, usd.body.error.message]).toEqual([400, expect.stringContaining('spec.currency')]);
  });

  it('a project admin neither reads price lists nor writes them, nor lifts their own budget', async () => {
    expect((await alice('GET', '/v1/price-lists/standard')).status).toBe(404);
    expect((await alice('POST', '/v1/price-lists', { kind: 'price-list', metadata: { name: 'mine' }, spec: { currency: 'EUR', effectiveFrom: '2030-01-01T00:00:00Z', prices: {} } })).status).toBe(403);
    const b = (await alice('GET', '/v1/projects/shop/budgets/monthly')).body;
    const lift = await alice('PUT', '/v1/projects/shop/budgets/monthly', { ...b, spec: { ...b.spec, amount: 1e9 } });
    expect([lift.status, lift.body.error.message]).toEqual([403, expect.stringContaining('only cluster admins may update budgets')]);
    expect((await alice('DELETE', '/v1/projects/shop/budgets/monthly')).status).toBe(403);
  });
});

describe('stratus cost report', () => {
  const period = ['--since', DAY, '--until', NEXT_DAY];

  it('shows the shop\'s charged cost, max(request, usage) per resource, to its member', async () => {
    const table = await cli(tokens.alice)(['cost', 'report', '--project', 'shop', ...period]);
    expect(table.stderr).toBe('');
    expect(table.stdout).toMatch(/^shop\s+2\.0\s+4\.80\s+4\.40\s+5\.80\s/m);
    expect(table.stdout).toMatch(/^TOTAL\s+2\.0\s+4\.80\s+4\.40\s+5\.80\s/m);
    const byInstance = JSON.parse((await cli(tokens.alice)(['cost', 'report', '--project', 'shop', ...period, '--by', 'instance', '-o', 'json'])).stdout);
    expect(byInstance.rows.map((r: { key: string; total: { charged: number } }) => [r.key, Number(r.total.charged.toFixed(6))])).toEqual([['shop/burst', 3.4], ['shop/web', 2.4]]);
    expect(byInstance.rows[1].efficiency.cpu).toBe(0.5);
    expect(byInstance.idle).toBeUndefined(); // the cluster's capacity is not a member's business
  });

  it('groups by a label, and its CSV keeps a hostile label value in one cell', async () => {
    const r = await cli(tokens.alice)(['cost', 'report', '--project', 'shop', ...period, '--by', 'label:team', '-o', 'csv']);
    const rows = parseCsv(r.stdout);
    expect(rows).toHaveLength(3);
    expect(rows.slice(1).map((x) => x[0]).sort()).toEqual([EVIL, 'red'].sort());
  });

  it('a member of another project gets nothing of this one', async () => {
    const asked = await cli(tokens.mallory)(['cost', 'report', '--project', 'shop', ...period]);
    expect(asked.code).toBe(1);
    expect(asked.stderr).toMatch(/project "shop" not found/);
    const mine = JSON.parse((await cli(tokens.mallory)(['cost', 'report', ...period, '-o', 'json'])).stdout);
    expect(mine.rows.map((r: { key: string }) => r.key)).toEqual(['other']);
    expect(Number(mine.total.total.charged.toFixed(6))).toBe(1.1);
  });

  it('cluster admins see every project and the idle cost per node pool', async () => {
    const all = JSON.parse((await cli(server.token)(['cost', 'report', ...period, '-o', 'json'])).stdout);
    expect(all.rows.map((r: { key: string }) => r.key)).toEqual(['shop', 'other']);
    // n1 (pool general): 8 cores − 5 reserved = 3 × 1; 16 GiB − 9 reserved = 7 × 0.1
    expect(all.idle).toEqual([{ pool: 'general', cpu: 3, memory: expect.closeTo(0.7), gpu: 0, total: expect.closeTo(3.7) }]);
  });

  it('is in the OpenAPI document, with its parameters', async () => {
    const doc = (await admin('GET', '/openapi.json')).body as { paths: Record<string, { get?: { parameters?: { name: string }[] } }> };
    expect(doc.paths['/v1/costs']?.get?.parameters?.map((p) => p.name).sort()).toEqual(['by', 'project', 'since', 'until']);
    expect(doc.paths['/v1/costs/focus']?.get).toBeDefined();
    expect(doc.paths['/v1/price-lists']).toBeDefined();
    expect(doc.paths['/v1/projects/{project}/budgets']).toBeDefined();
  });

  it.each([
    [['--since', 'yesterday'], /since/],
    [['--until', '2001-01-01'], /until/],
    [['--by', 'colour'], /by: .*label:<key>/],
  ])('%j: one line naming the parameter, exit 1', async (args, message) => {
    const r = await cli(tokens.alice)(['cost', 'report', '--project', 'shop', ...args]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('budgets', () => {
  it('raise one warning per threshold crossed and mark the budget exceeded', async () => {
    const b = await until('budget computed', async () => (await alice('GET', '/v1/projects/shop/budgets/monthly')).body, (x) => x.status?.exceeded === true, 30_000, () => server.output());
    expect(b.status).toMatchObject({ spent: 5.8, crossed: [50, 80, 100] });
    const events = await until('threshold events', async () => (await alice('GET', '/v1/projects/shop/events')).body.items as { spec: { reason: string; type: string; message: string } }[], (e) => e.filter((x) => x.spec.reason === 'BudgetThreshold').length >= 3);
    const mine = events.filter((e) => e.spec.reason === 'BudgetThreshold');
    expect(mine.map((e) => e.spec.type)).toEqual(['Warning', 'Warning', 'Warning']);
    expect(mine.map((e) => /(\d+) % crossed/.exec(e.spec.message)![1]).sort()).toEqual(['100', '50', '80']);
    // later passes raise nothing again
    await new Promise((r) => setTimeout(r, 2500));
    expect(((await alice('GET', '/v1/projects/shop/events')).body.items as { spec: { reason: string; count?: number } }[]).filter((e) => e.spec.reason === 'BudgetThreshold').map((e) => e.spec.count ?? 1)).toEqual([1, 1, 1]);
  });

  it('enforced at 100 %: a new instance is refused with a 403 naming the budget; other projects are not', async () => {
    const inst = { kind: 'instance', metadata: { name: 'more' }, spec: { driver: 'process', command: ['true'] } };
    const r = await alice('POST', '/v1/projects/shop/instances', inst);
    expect([r.status, r.body.error.code]).toEqual([403, 'STRATUS_ERR_BUDGET_EXCEEDED']);
    expect(r.body.error.message).toMatch(/budget "monthly" \(5\.00 EUR for \d{4}-\d{2}, enforce: true\)/);
    expect((await admin('POST', '/v1/projects/other/instances', inst)).status).toBe(201);
  });
});

describe('stratus cost export --format focus', () => {
  it('writes CSV with the FOCUS columns that parses back, a hostile label in its Tags', async () => {
    const file = join(dir, 'focus.csv');
    const r = await cli(server.token)(['cost', 'export', '--format', 'focus', '--since', DAY, '--until', NEXT_DAY, '-o', file]);
    expect(r.code).toBe(0);
    const [header, ...rows] = parseCsv(readFileSync(file, 'utf8'));
    expect(header).toEqual([...FOCUS_COLUMNS]);
    expect(rows).toHaveLength(6); // 3 instances × (CPU, memory)
    for (const x of rows) expect(x).toHaveLength(FOCUS_COLUMNS.length);
    const col = (x: string[], c: (typeof FOCUS_COLUMNS)[number]) => x[FOCUS_COLUMNS.indexOf(c)]!;
    const billed = rows.reduce((s, x) => s + Number(col(x, 'BilledCost')), 0);
    expect(billed).toBeCloseTo(6.9); // 5.8 + 1.1
    const web = rows.find((x) => col(x, 'ResourceName') === 'shop/web' && col(x, 'PricingUnit') === 'Core-Hours')!;
    expect([col(web, 'SubAccountId'), col(web, 'ChargePeriodStart'), col(web, 'BillingCurrency'), col(web, 'PricingQuantity'), col(web, 'ConsumedQuantity')]).toEqual(['shop', H, 'EUR', '2', '1']);
    expect(JSON.parse(col(web, 'Tags')).team).toBe(EVIL);
    const bad = await cli(server.token)(['cost', 'export', '--format', 'csv']);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/--format csv: unknown export format/)]);
  });
});
