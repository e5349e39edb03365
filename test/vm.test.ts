/**
 * Virtual machines end to end on the one-machine cloud (server, embedded agent, overlay
 * networking): the image scripts/build-vm-image.sh makes (built once, cached) boots under QEMU
 * (TCG here: each boot takes ~5-10 s, so the suite boots five times in all; ~90 s):
 *
 *   - a VM as a service's replica answers HTTP to a container of its project through the
 *     service's name, and not to another project's container (the tap has a veth's rules)
 *   - `stratus logs` shows the serial console (the user-data's output too); `stratus console`
 *     attaches and Ctrl-] detaches
 *   - reboot (ACPI reset, same QEMU), stop (ACPI power button, the guest powers off; the root
 *     disk stays), start (boots again on the same node, same disk)
 *   - the agent killed with SIGKILL: the VM keeps running, the next agent re-attaches to it
 *   - 20 create/delete cycles leave no QEMU, tap, root disk or mount behind
 *   - a second server in host networking: the VM's port forwarded from its host port (user-mode)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, client, overlayNetworking, startTestServer, type TestServer } from './helpers/server.js';
import { cliRunner, type CliResult } from './helpers/cli.js';
import { until } from './helpers/processes.js';
import { hasCommand, teardownTenants } from './helpers/tenants.js';
import { builtVmImage, vmTestsUnavailable } from '../src/node/drivers/vm/testing.js';
import { buildBusyboxRootfs } from '../src/node/drivers/images.js';
import { networkTestSkipReason } from '../src/node/network/testing.js';
import { Naming } from '../src/node/network/names.js';

const why = networkTestSkipReason() ?? vmTestsUnavailable() ?? (!hasCommand('runc') ? 'runc is not installed' : undefined);
if (why) console.warn(`VM suite skipped: ${why}`);

let server: TestServer;
let dir: string;
let admin: ReturnType<typeof client>;
let cli: (args: string[], input?: string) => Promise<CliResult>;
let cliB: (args: string[], input?: string) => Promise<CliResult>;
const node = `vm-${process.pid}`;
const serverArgs = ['--node-name', node, '--netns-prefix', `vm${process.pid % 10000}-`];
const names = new Naming();
const A = '/v1/projects/team-a/instances';
const VM = { driver: 'vm', image: 'debvm', resources: { cpu: '500m', memory: '256Mi', disk: '1Gi' }, ports: [{ port: 80 }] };
const box = (name: string) => ({ kind: 'instance', metadata: { name }, spec: { driver: 'container', image: 'busybox', command: ['sleep', '3600'], resources: { cpu: '100m', memory: '32Mi' } } });

const statusOf = (name: string) => admin('GET', `${A}/${name}`).then((r) => r.body?.status);
const logsOf = async (name: string) => (await cli(['logs', name])).stdout;
const boots = async (name: string) => (await logsOf(name)).split('\n').filter((l) => l.includes('stratus-vm: booting')).length;
/** What `client` (team-a) or `spy` (team-b) gets from port 80 of `host` (busybox nc: its static wget crashes in a container here). */
const fetchFrom = async (who: 'client' | 'spy', host: string) => {
  const r = await (who === 'client' ? cli : cliB)(['exec', who, '--', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${host} 80`]);
  return r.code === 0 && r.stdout.startsWith('HTTP/1.') ? r.stdout : `error: exit ${r.code} ${r.stderr.trim()}`;
};
const alive = (pid: number) => spawnSync('kill', ['-0', String(pid)]).status === 0;
/** QEMU processes of this suite's agent (their argv names its data directory). */
const qemus = () => spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes('qemu-system') && l.includes(server.dataDir));
const taps = () => spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter((n) => names.isTap(n));
const mounts = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(server.dataDir));
/** Instance uids with a root disk on the node. */
function rootDisks(): string[] {
  const found: string[] = [];
  const walk = (d: string, depth: number) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      if (e.name === 'vm-disks') found.push(...readdirSync(join(d, e.name)));
      else if (depth < 3) walk(join(d, e.name), depth + 1);
    }
  };
  walk(server.dataDir, 0);
  return found.sort();
}

beforeAll(async () => {
  if (why) return;
  const image = await builtVmImage();
  dir = mkdtempSync(join(tmpdir(), 'stratus-vm-'));
  server = await startTestServer({ agent: true, args: serverArgs });
  admin = client(server.url, server.token);
  cli = cliRunner(join(dir, 'a.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token, STRATUS_PROJECT: 'team-a' });
  cliB = cliRunner(join(dir, 'b.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token, STRATUS_PROJECT: 'team-b' });
  for (const p of ['team-a', 'team-b']) expect((await admin('POST', '/v1/projects', { kind: 'project', metadata: { name: p }, spec: {} })).status).toBe(201);
  await overlayNetworking(admin, node);
  await buildBusyboxRootfs(join(dir, 'busybox'));
  for (const run of [cli, cliB]) expect((await run(['image', 'import', 'busybox', join(dir, 'busybox')])).code).toBe(0);
  const imported = await cli(['image', 'import', 'debvm', image, '--type', 'disk']);
  expect(imported.code, imported.stderr).toBe(0);
  const web = { kind: 'service', metadata: { name: 'web' }, spec: { replicas: 1, template: { spec: { ...VM, gracePeriod: 5 } } } };
  expect((await admin('POST', '/v1/projects/team-a/services', web)).status).toBe(201);
  const userData = '#!/bin/sh\necho "user-data ran: $((6 * 7))"\n';
  expect((await admin('POST', A, { kind: 'instance', metadata: { name: 'solo' }, spec: { ...VM, gracePeriod: 20, userData } })).status).toBe(201);
  expect((await admin('POST', A, box('client'))).status).toBe(201);
  expect((await admin('POST', '/v1/projects/team-b/instances', box('spy'))).status).toBe(201);
  for (const [p, n] of [['team-a', 'client'], ['team-b', 'spy'], ['team-a', 'solo']]) {
    await until(`${p}/${n} running`, () => admin('GET', `/v1/projects/${p}/instances/${n}`).then((r) => r.body?.status), (s) => s?.phase === 'Running', 120_000, () => server.output().slice(-3000));
  }
}, 600_000);

afterAll(async () => {
  if (why) return;
  // VMs take their grace period to power off: wait for them before the shared teardown's shorter wait
  for (const p of ['team-a', 'team-b']) await admin('DELETE', `/v1/projects/${p}?cascade=true`).catch(() => undefined);
  await until('every instance destroyed', () => admin('GET', '/v1/instances').then((r) => r.body.items.length), (n) => n === 0, 120_000).catch(() => undefined);
  await teardownTenants(server, admin, ['team-a', 'team-b'], dir);
}, 240_000);

describe.skipIf(why !== undefined)('virtual machines', () => {
  it('a VM replica answers its project\'s container through the service name, and not another project\'s', async () => {
    const replicaLogs = async () => (await cli(['logs', (await admin('GET', `${A}?selector=stratus.io/service=web`)).body.items[0]?.metadata.name ?? 'none'])).stdout.slice(-1500);
    const page = await until('the VM replica\'s page through http://web/', () => fetchFrom('client', 'web'), (p) => p.includes('stratus vm web-'), 120_000)
      .catch(async (e: Error) => Promise.reject(new Error(`${e.message}\nthe replica's console:\n${await replicaLogs()}`)));
    expect(page).toMatch(/<h1>stratus vm web-[a-z0-9]+<\/h1>/);
    const vip = (await admin('GET', '/v1/projects/team-a/services/web')).body.status.address as string;
    const replica = (await admin('GET', `${A}?selector=stratus.io/service=web`)).body.items[0];
    for (const target of [vip, replica.status.ip]) expect(await fetchFrom('spy', target)).toMatch(/^error: /);
    expect(await fetchFrom('client', replica.status.ip)).toContain('stratus vm web-');
  }, 240_000);

  it('logs show the serial console; stratus console attaches to the guest\'s shell and Ctrl-] detaches', async () => {
    await until('solo ready', () => logsOf('solo'), (l) => l.includes('stratus-vm: ready: solo'), 120_000);
    expect(await logsOf('solo')).toMatch(/stratus-vm: eth0 10\.\d+\.\d+\.\d+\/\d+ gateway 10\.\d+\.\d+\.1 dns 10\.\d+\.\d+\.1/);
    await until('its user-data\'s output', () => logsOf('solo'), (l) => l.includes('user-data ran: 42'), 30_000);
    const proc = spawn(process.execPath, [BIN, 'console', 'solo'], { env: { ...process.env, STRATUS_CONFIG: join(dir, 'console.json'), STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token, STRATUS_PROJECT: 'team-a' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    await until('attached', async () => err, (e) => e.includes('Detach with Ctrl-]'), 30_000);
    proc.stdin.write('\n');
    await until('the guest\'s prompt', async () => out, (o) => o.includes('solo:/# '), 30_000, () => out);
    proc.stdin.write('echo "$((6 * 7))-from-the-guest"\n');
    await until('the command\'s output', async () => out, (o) => o.includes('42-from-the-guest'), 30_000, () => out);
    proc.stdin.write(Buffer.from([0x1d]));
    expect(await exited).toBe(0);
    expect(err).toContain('Detached.');
    expect((await statusOf('solo')).phase).toBe('Running');
  }, 240_000);

  it('reboot resets the guest in the same QEMU; stop powers it off with ACPI and keeps its disk; start boots it again', async () => {
    const before = await statusOf('solo');
    const uid = (await admin('GET', `${A}/solo`)).body.metadata.uid as string;
    expect((await cli(['instance', 'reboot', 'solo'])).stdout).toBe('instance/solo rebooted\n');
    await until('a second boot', () => boots('solo'), (n) => n === 2, 60_000);
    await until('ready again', () => logsOf('solo'), (l) => l.split('stratus-vm: ready: solo').length === 3, 120_000);
    expect((await statusOf('solo')).pid).toBe(before.pid);
    expect(rootDisks()).toContain(uid);
    const stop = await cli(['instance', 'stop', 'solo']);
    expect(stop.stdout).toBe(`instance/solo stopping (stopping on node ${node} (ACPI shutdown, then a hard stop after 20 s))\n`);
    const off = await until('solo off', () => statusOf('solo'), (s) => s?.reason === 'Stopped', 60_000);
    expect(off).toMatchObject({ phase: 'Off', node });
    expect(await logsOf('solo')).toContain('stratus-vm: power button: powering off');
    expect(alive(before.pid)).toBe(false);
    expect(rootDisks()).toContain(uid);
    expect(taps()).toContain(names.tap(uid)); // it keeps its NIC (and its address) while off
    expect((await cli(['instance', 'start', 'solo'])).code).toBe(0);
    const again = await until('solo running again', () => statusOf('solo'), (s) => s?.phase === 'Running', 60_000);
    expect(again.ip).toBe(before.ip);
    await until('its page again', () => fetchFrom('client', 'solo'), (p) => p.includes('stratus vm solo'), 120_000);
  }, 400_000);

  it('an agent killed with SIGKILL leaves its VM running, and the next one re-attaches to it', async () => {
    const before = await statusOf('solo');
    const bootsBefore = await boots('solo');
    await server.kill();
    expect(alive(before.pid)).toBe(true);
    server = await startTestServer({ dataDir: server.dataDir, agent: true, args: serverArgs });
    admin = client(server.url, server.token);
    cli = cliRunner(join(dir, 'a.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token, STRATUS_PROJECT: 'team-a' });
    cliB = cliRunner(join(dir, 'b.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token, STRATUS_PROJECT: 'team-b' });
    await until('the node back', () => admin('GET', `/v1/nodes/${node}`).then((r) => r.body?.status), (s) => s?.phase === 'Ready', 60_000);
    await overlayNetworking(admin, node);
    expect(await until('its page after the restart', () => fetchFrom('client', 'solo'), (p) => p.includes('stratus vm solo'), 60_000)).toContain('solo');
    expect(await statusOf('solo')).toMatchObject({ phase: 'Running', pid: before.pid });
    expect(await boots('solo')).toBe(bootsBefore);
  }, 420_000); // overlayNetworking may wait for another test file's agent to let go of this machine's network

  it('20 create/delete cycles of a VM leave no QEMU, tap, root disk or mount behind', async () => {
    const kept = async () => (await admin('GET', A)).body.items.filter((i: { spec: { driver: string } }) => i.spec.driver === 'vm').map((i: { metadata: { uid: string } }) => i.metadata.uid).sort() as string[];
    const before = { qemus: qemus().length, mounts: mounts() };
    for (let i = 0; i < 20; i++) {
      const made = await admin('POST', A, { kind: 'instance', metadata: { name: `cycle-${i}` }, spec: { ...VM, restartPolicy: 'never', gracePeriod: 0 } });
      expect(made.status).toBe(201);
      await until(`cycle-${i} running`, () => statusOf(`cycle-${i}`), (s) => s?.phase === 'Running' || s?.phase === 'Failed', 60_000);
      expect((await statusOf(`cycle-${i}`)).phase).toBe('Running');
      expect((await admin('DELETE', `${A}/cycle-${i}`)).status).toBe(200);
    }
    const uids = await kept();
    await until('only the VMs that exist', async () => ({ qemus: qemus().length, taps: taps().sort(), disks: rootDisks() }),
      (v) => v.qemus === before.qemus && JSON.stringify(v.taps) === JSON.stringify(uids.map((u) => names.tap(u)).sort()) && JSON.stringify(v.disks) === JSON.stringify(uids), 60_000);
    expect(mounts()).toEqual(before.mounts);
    expect(existsSync(server.dataDir) && statSync(server.dataDir).isDirectory()).toBe(true);
  }, 300_000);

  it('in host networking a VM gets QEMU\'s user-mode network, its declared port forwarded from the host port the node gave it', async () => {
    const host = await startTestServer({ agent: true, args: ['--node-name', `vmh-${process.pid}`, '--network', 'host'] });
    try {
      const api = client(host.url, host.token);
      const run = cliRunner(join(dir, 'h.json'), { STRATUS_SERVER: host.url, STRATUS_TOKEN: host.token, STRATUS_PROJECT: 'team-h' });
      expect((await api('POST', '/v1/projects', { kind: 'project', metadata: { name: 'team-h' }, spec: {} })).status).toBe(201);
      expect((await run(['image', 'import', 'debvm', await builtVmImage(), '--type', 'disk'])).code).toBe(0);
      expect((await api('POST', '/v1/projects/team-h/instances', { kind: 'instance', metadata: { name: 'hvm' }, spec: { ...VM, gracePeriod: 0 } })).status).toBe(201);
      const s = await until('hvm running', () => api('GET', '/v1/projects/team-h/instances/hvm').then((r) => r.body?.status), (st) => st?.phase === 'Running', 60_000);
      const port = s.hostNetwork.ports[0].hostPort as number;
      const page = await until(`its page on host port ${port}`, () => fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) }).then((r) => r.text(), (e: Error) => e.message), (t) => t.includes('stratus vm hvm'), 120_000);
      expect(page).toContain('<h1>stratus vm hvm</h1>');
      expect((await run(['logs', 'hvm'])).stdout).toContain('stratus-vm: eth0 10.0.2.15/24 (dhcp)');
      expect((await api('DELETE', '/v1/projects/team-h/instances/hvm')).status).toBe(200);
      await until('hvm gone', () => api('GET', '/v1/projects/team-h/instances').then((r) => r.body.items.length), (n) => n === 0, 60_000);
    } finally {
      await host.stop();
      host.cleanup();
    }
  }, 300_000);
});
