/**
 * Tenant isolation end to end, on the one-machine cloud `npm start` makes (server, embedded agent,
 * per-instance network namespaces): a member of team-a, whose instances try every escape the
 * isolation issue found, against team-b's instances (a secret in their environment) and the node.
 * Each attempt prints "<name>=<exit code>"; the test asserts that every one failed, and that the
 * secret, the node's credential and the database never appear in the member's output.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { client, overlayNetworking, startTestServer, type TestServer } from './helpers/server.js';
import { cliRunner, type CliResult } from './helpers/cli.js';
import { hasCommand, teardownTenants } from './helpers/tenants.js';
import { buildBusyboxRootfs } from '../src/node/drivers/images.js';

const root = process.getuid?.() === 0;
const has = hasCommand;
const why = !root ? 'not root' : !has('runc') ? 'runc is not installed' : !existsSync('/bin/busybox') ? 'busybox-static is not installed' : '';
if (why) console.warn(`isolation suite skipped: ${why}`);

const SECRET = 'hunter2-team-b';
let server: TestServer;
let dir: string;
let admin: ReturnType<typeof client>;
let alice: ReturnType<typeof client>;
let asAlice: (args: string[]) => Promise<CliResult>;
const node = `iso-${process.pid}`;

async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get().catch(() => undefined as T);
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what}: not after ${ms} ms: ${JSON.stringify(v).slice(0, 800)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const inst = (name: string, spec: Record<string, unknown>) => ({ kind: 'instance', metadata: { name }, spec: { resources: { cpu: '100m', memory: '64Mi' }, ...spec } });

async function running(api: ReturnType<typeof client>, project: string, name: string) {
  return until(`${project}/${name} running`, () => api('GET', `/v1/projects/${project}/instances/${name}`).then((r) => r.body), (b) => b?.status?.phase === 'Running');
}

/** The escape attempts, one per line "name=exit code"; `$V` is the victim's host pid, `$NS` its namespace. */
function escapes(dataDir: string): string {
  return [
    'echo "uid=$(id -u)"',
    'cat /proc/$V/environ >/dev/null 2>&1; echo "read-environ=$?"',
    `grep -l ${SECRET} /proc/*/environ >/dev/null 2>&1; echo "grep-environ=$?"`,
    `cat ${join(dataDir, 'agent', 'credential.json')} >/dev/null 2>&1; echo "credential=$?"`,
    `cat ${join(dataDir, 'stratus.db')} >/dev/null 2>&1; echo "database=$?"`,
    'kill -9 $V 2>/dev/null; echo "signal=$?"',
    'nsenter --net=/run/netns/$NS true 2>/dev/null; echo "setns=$?"',
    'ip netns exec $NS true 2>/dev/null; echo "netns-exec=$?"',
    'unshare -U true 2>/dev/null; echo "unshare-user=$?"',
    'unshare -n true 2>/dev/null; echo "unshare-net=$?"',
    // not an escape: a port below 1024 in its own network namespace is its to bind
    'busybox httpd -p 81 -h / 2>/dev/null; echo "bind-low=$?"',
  ].join('; ');
}

function results(log: string): Record<string, number> {
  return Object.fromEntries([...log.matchAll(/^([a-z-]+)=(\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
}

beforeAll(async () => {
  if (why) return;
  dir = mkdtempSync(join(tmpdir(), 'stratus-iso-'));
  server = await startTestServer({ agent: true, args: ['--node-name', node, '--netns-prefix', `iso${process.pid % 10000}-`] });
  admin = client(server.url, server.token);
  for (const p of ['team-a', 'team-b']) expect((await admin('POST', '/v1/projects', { kind: 'project', metadata: { name: p }, spec: {} })).status).toBe(201);
  expect((await admin('POST', '/v1/users', { kind: 'user', metadata: { name: 'alice' }, spec: { roles: [{ project: 'team-a', role: 'member' }] } })).status).toBe(201);
  const tok = await admin('POST', '/v1/tokens', { user: 'alice' });
  expect(tok.status).toBe(201);
  alice = client(server.url, tok.body.secret);
  asAlice = cliRunner(join(dir, 'alice.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: tok.body.secret, STRATUS_PROJECT: 'team-a' });
  await until('the node', () => admin('GET', `/v1/nodes/${node}`).then((r) => r.body), (n) => n?.status?.phase === 'Ready');
  await overlayNetworking(admin, node); // the escapes below try the victims' network namespaces
  const rootfs = join(dir, 'busybox');
  await buildBusyboxRootfs(rootfs);
  for (const p of ['team-a', 'team-b']) {
    const run = cliRunner(join(dir, 'admin.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token, STRATUS_PROJECT: p });
    expect((await run(['image', 'import', 'busybox', rootfs])).code).toBe(0);
  }
  expect((await admin('POST', '/v1/projects/team-b/instances', inst('db', { driver: 'process', command: ['sleep', '3600'], env: { DB_PASSWORD: SECRET } }))).status).toBe(201);
  expect((await admin('POST', '/v1/projects/team-b/instances', inst('cdb', { driver: 'container', image: 'busybox', command: ['sleep', '3600'], env: { DB_PASSWORD: SECRET } }))).status).toBe(201);
}, 420_000);

afterAll(async () => {
  // Workloads outlive their agent by design: the agent destroys them before the server stops.
  if (!why) await teardownTenants(server, admin, ['team-a', 'team-b'], dir);
}, 60_000);

describe.skipIf(why !== '')('a hostile member of team-a', () => {
  for (const driver of ['process', 'container'] as const) {
    it(`cannot escape a ${driver} instance: environ, files, credential, database, signals, namespaces, user namespaces`, async () => {
      const victim = await running(admin, 'team-b', driver === 'process' ? 'db' : 'cdb');
      const netns = readdirSync('/run/netns').filter((n) => n.startsWith(`iso${process.pid % 10000}-`));
      expect(netns.length).toBeGreaterThan(0); // the names a guesser would try
      const name = `escape-${driver}`;
      const spec = driver === 'process'
        ? { driver, command: ['sh', '-c', escapes(server.dataDir)], restartPolicy: 'never', env: { V: String(victim.status.pid), NS: netns[0]! } }
        : { driver, image: 'busybox', command: ['sh', '-c', escapes(server.dataDir)], restartPolicy: 'never', env: { V: String(victim.status.pid), NS: netns[0]! } };
      expect((await alice('POST', '/v1/projects/team-a/instances', inst(name, spec))).status).toBe(201);
      await until(`${name} to finish`, () => alice('GET', `/v1/projects/team-a/instances/${name}`).then((r) => r.body), (b) => b?.status?.phase === 'Succeeded' || b?.status?.phase === 'Failed');
      const logs = await asAlice(['logs', name]);
      expect(logs.code, logs.stderr).toBe(0);
      const r = results(logs.stdout);
      if (driver === 'process') expect(r.uid).toBeGreaterThan(65535); // the project's unprivileged uid, not root
      else expect(r.uid).toBe(0); // root inside its user namespace...
      for (const attempt of ['read-environ', 'grep-environ', 'credential', 'database', 'signal', 'setns', 'netns-exec', 'unshare-user', 'unshare-net']) {
        expect(r[attempt], `${attempt} must fail (output: ${logs.stdout})`).toBeGreaterThan(0);
      }
      expect(r['bind-low'], `binding port 81 in its own network namespace (output: ${logs.stdout})`).toBe(0);
      expect(logs.stdout).not.toContain(SECRET);
      expect((await running(admin, 'team-b', victim.metadata.name)).status.pid).toBe(victim.status.pid); // untouched
    });
  }

  it("runs its containers' root as an unprivileged uid on the node", async () => {
    const c = await running(admin, 'team-b', 'cdb');
    const status = execFileSync('cat', [`/proc/${c.status.pid}/status`]).toString();
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
    expect(uid).toBeGreaterThan(65535);
    const nodeInfo = await admin('GET', `/v1/nodes/${node}`);
    const container = nodeInfo.body.status.drivers.find((d: { name: string }) => d.name === 'container');
    expect(container.message).toMatch(/user namespaces: root in a container is an unprivileged uid/);
  });

  it('cannot publish a host port outside the cluster range, nor run unisolated', async () => {
    const ssh = await alice('POST', '/v1/projects/team-a/instances', inst('ssh', { driver: 'process', command: ['sleep', '1'], ports: [{ port: 22, publish: 22 }] }));
    expect(ssh.status).toBe(403);
    expect(ssh.body.error.message).toMatch(/spec\.ports\[0\]\.publish: host port 22 is outside the published port range/);
    const raw = await alice('POST', '/v1/projects/team-a/instances', inst('raw', { driver: 'process', command: ['id'], isolation: 'none' }));
    expect(raw.status).toBe(403);
    expect(raw.body.error.message).toMatch(/spec\.isolation: project "team-a" may not run unisolated processes/);
  });

  it('an allowed project still gets no unisolated process on a node that does not allow it: Pending, saying why', async () => {
    expect((await admin('POST', '/v1/projects', { kind: 'project', metadata: { name: 'team-raw' }, spec: { allowUnisolated: true } })).status).toBe(201);
    expect((await admin('POST', '/v1/projects/team-raw/instances', inst('raw', { driver: 'process', command: ['id'], isolation: 'none' }))).status).toBe(201);
    const pending = await until('the scheduler to explain', () => admin('GET', '/v1/projects/team-raw/instances/raw').then((r) => r.body), (b) => (b?.status?.message ?? '').includes('unisolated'));
    expect(pending.status.phase).toBe('Pending');
    expect(pending.status.message).toMatch(/1 node: 1 unisolated processes not allowed on the node/);
    await admin('DELETE', '/v1/projects/team-raw?cascade=true');
  });

  it("cannot override the platform's variables", async () => {
    const res = await alice('POST', '/v1/projects/team-a/instances', inst('spoof', { driver: 'process', command: ['true'], env: { STRATUS_PROJECT: 'team-b' } }));
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/spec\.env\.STRATUS_PROJECT/);
  });
});

