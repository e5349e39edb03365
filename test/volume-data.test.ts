/**
 * Volumes end to end on a one-machine cloud (a server with its embedded agent, process instances
 * in their sandbox): data written by one instance outlives it and is there for the next; one
 * instance at a time; snapshot → change → restore → the original; clone; resize; and nothing
 * mounted or attached is left once the instances are gone. Needs root (loop mounts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { client, startTestServer, type TestServer } from './helpers/server.js';
import { cliRunner, type CliResult } from './helpers/cli.js';
import { until } from './helpers/processes.js';
import { NodeVolumes } from '../src/node/agent/volumes.js';
import { buildBusyboxRootfs } from '../src/node/drivers/index.js';

const runc = (() => { try { execFileSync('runc', ['--version']); return true; } catch { return false; } })();

const root = process.getuid?.() === 0;
if (!root) console.warn('volume data suite skipped: not root (loop mounts)');

let server: TestServer;
let dir: string;
let admin: ReturnType<typeof client>;
let run: (args: string[]) => Promise<CliResult>;
const node = `vol-${process.pid}`;
const P = '/v1/projects/vols';

/** A process instance that runs `script` in sh with volume `volume` at /data, once. */
const job = (name: string, script: string, volume = 'data', extra: Record<string, unknown> = {}) => ({
  kind: 'instance', metadata: { name },
  spec: { driver: 'process', command: ['sh', '-c', script], resources: { cpu: '50m', memory: '32Mi' }, restartPolicy: 'never', volumes: [{ volume, path: '/data' }], ...extra },
});

async function runJob(name: string, script: string, volume = 'data', extra: Record<string, unknown> = {}): Promise<string> {
  const created = await admin('POST', `${P}/instances`, job(name, script, volume, extra));
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const done = await until(`${name} finished`, () => admin('GET', `${P}/instances/${name}`).then((r) => r.body), (i) => ['Succeeded', 'Failed'].includes(i?.status?.phase), 60_000);
  // stdout only: under load tini may warn on stderr ("Child was dead when forwarding signal") when the
  // agent's stop of a run that just ended reaches it before it exits
  const logs = (await run(['logs', name, '--stream', 'stdout'])).stdout;
  expect(done.status.phase, `${done.status.message}\n${logs}`).toBe('Succeeded');
  expect((await admin('DELETE', `${P}/instances/${name}`)).status).toBe(200);
  await until(`${name} gone`, () => admin('GET', `${P}/instances/${name}`).then((r) => r.status), (s) => s === 404, 30_000);
  return logs;
}

const mountRoot = () => new NodeVolumes({ dataDir: join(server.dataDir, 'agent') }).mountRoot;
const mounted = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(mountRoot()));
const loops = () => execFileSync('losetup', ['-a'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(server.dataDir));

beforeAll(async () => {
  if (!root) return;
  dir = mkdtempSync(join(tmpdir(), 'stratus-voldata-'));
  server = await startTestServer({ agent: true, args: ['--node-name', node, '--network', 'host'] });
  admin = client(server.url, server.token);
  run = cliRunner(join(dir, 'config.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token, STRATUS_PROJECT: 'vols' });
  expect((await run(['project', 'create', 'vols', '--quota', 'volumes=3,storage=300Mi'])).code).toBe(0);
  await until('the node', () => admin('GET', `/v1/nodes/${node}`).then((r) => r.body), (n) => n?.status?.phase === 'Ready', 60_000);
  expect((await admin('POST', `${P}/volumes`, { kind: 'volume', metadata: { name: 'data' }, spec: { size: '64Mi' } })).status).toBe(201);
}, 120_000);

afterAll(async () => {
  if (!root) return;
  await admin('DELETE', `${P}?cascade=true`).catch(() => undefined);
  await until('every instance destroyed', () => admin('GET', '/v1/instances').then((r) => r.body.items.length), (n) => n === 0, 30_000).catch(() => undefined);
  await server.stop();
  server.cleanup();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe.skipIf(!root)('volume data', () => {
  it('outlives the instance that wrote it: the next instance reads it, on the volume\'s node', async () => {
    await runJob('writer', 'echo one > /data/f');
    const vol = await until('the volume placed', () => admin('GET', `${P}/volumes/data`).then((r) => r.body), (v) => v.status?.phase === 'Available', 10_000);
    expect(vol.status).toMatchObject({ phase: 'Available', node });
    expect(await runJob('reader', 'cat /data/f')).toBe('one\n');
  });

  it('is used by one instance at a time, and not restored while used', async () => {
    expect((await admin('POST', `${P}/instances`, job('holder', 'sleep 600'))).status).toBe(201);
    await until('the holder running', () => admin('GET', `${P}/volumes/data`).then((r) => r.body.status), (s) => s?.phase === 'Attached' && s.attachedTo === 'holder', 60_000);
    await until('its mount', async () => mounted().length, (n) => n === 1, 30_000);
    const second = await admin('POST', `${P}/instances`, job('second', 'true'));
    expect([second.status, second.body.error.code]).toEqual([409, 'STRATUS_ERR_VOLUME_IN_USE']);
    expect(second.body.error.message).toMatch(/^spec\.volumes\[0\]\.volume: volume "data" is in use by instance "holder"/);
    expect((await run(['volume', 'snapshot', 'data', '--name', 'busy'])).code).toBe(0); // a snapshot of a mounted volume: frozen meanwhile
    const restore = await run(['volume', 'restore', 'data', '--snapshot', 'busy']);
    expect([restore.code, restore.stderr.trim()]).toEqual([1, expect.stringMatching(/volume "data" is attached to instance "holder"; stop or delete it before restoring the volume \(STRATUS_ERR_VOLUME_IN_USE\)$/)]);
    expect((await admin('DELETE', `${P}/instances/holder`)).status).toBe(200);
    await until('the holder gone', () => admin('GET', `${P}/volumes/data`).then((r) => r.body.status), (s) => s?.phase === 'Available', 30_000);
    expect((await admin('DELETE', `${P}/snapshots/busy`)).status).toBe(200);
  });

  it('snapshot, change, restore: the original is back; a clone has it too', async () => {
    const snap = await run(['volume', 'snapshot', 'data', '--name', 'before']);
    expect([snap.code, snap.stdout.trim()]).toEqual([0, `snapshot/before of volume data taken on node ${node}`]);
    expect((await admin('GET', `${P}/snapshots/before`)).body).toMatchObject({ spec: { volume: 'data', size: 64 }, status: { phase: 'Ready', node } });
    await runJob('changer', 'echo two > /data/f');
    expect(await runJob('reader', 'cat /data/f')).toBe('two\n');
    const restored = await run(['volume', 'restore', 'data', '--snapshot', 'before']);
    expect([restored.code, restored.stdout.trim()]).toEqual([0, 'volume/data restored from snapshot before']);
    expect(await runJob('reader', 'cat /data/f')).toBe('one\n');

    const cloned = await run(['volume', 'clone', 'data', '--name', 'copy']);
    expect([cloned.code, cloned.stdout.trim()]).toEqual([0, `volume/copy cloned from volume data on node ${node}`]);
    expect(await runJob('reader', 'cat /data/f', 'copy')).toBe('one\n');
  });

  it('counts snapshots and clones in the storage quota', async () => {
    // 64Mi data + 64Mi snapshot + 64Mi copy = 192Mi of 300Mi; + 64Mi big = 256Mi; another 64Mi snapshot would be 320Mi
    const big = await run(['volume', 'clone', 'data', '--name', 'big', '--snapshot', 'before']);
    expect(big.code).toBe(0);
    const over = await run(['volume', 'snapshot', 'data', '--name', 'too-many']);
    expect([over.code, over.stderr]).toEqual([1, expect.stringMatching(/STRATUS_ERR_QUOTA_EXCEEDED/)]);
    const volumes = await run(['volume', 'clone', 'data', '--name', 'fourth']);
    expect([volumes.code, volumes.stderr]).toEqual([1, expect.stringMatching(/STRATUS_ERR_QUOTA_EXCEEDED/)]); // a 4th volume
    expect((await admin('GET', `${P}/volumes/fourth`)).status).toBe(404);
    expect((await admin('DELETE', `${P}/volumes/big`)).status).toBe(200);
  });

  it('grows, never shrinks: the workload sees the new size', async () => {
    const shrink = await run(['volume', 'resize', 'data', '32Mi']);
    expect([shrink.code, shrink.stderr]).toEqual([1, expect.stringMatching(/spec\.size: cannot shrink/)]);
    const grown = await run(['volume', 'resize', 'data', '128Mi']);
    expect([grown.code, grown.stdout]).toEqual([0, expect.stringMatching(/^volume\/data resized to 128Mi/)]);
    const kib = Number((await runJob('sizer', 'df -k /data | tail -1 | tr -s " " | cut -d" " -f2')).trim());
    expect(kib).toBeGreaterThan(100 * 1024);
    expect(await runJob('reader', 'cat /data/f')).toBe('one\n');
  });

  it('gives a block volume to a process as its device node at its path, writable by it', async () => {
    expect((await admin('POST', `${P}/volumes`, { kind: 'volume', metadata: { name: 'raw' }, spec: { size: '8Mi', type: 'block' } })).status).toBe(201);
    const at = (path: string) => ({ volumes: [{ volume: 'raw', path }] });
    const refused = await admin('POST', `${P}/instances`, job('blocky', 'true', 'raw', at('/data')));
    expect([refused.status, refused.body.error.message]).toEqual([400, 'spec.volumes[0].path: "/data": a block volume is a device node; give a name under /dev (e.g. /dev/data)']);
    const out = await runJob('blocky', 'test -b /dev/raw && echo blockmark > /dev/raw && echo wrote; ls /dev | grep -c loop; true', 'raw', at('/dev/raw'));
    expect(out).toBe('wrote\n0\n'); // at its path, and no host loop device besides it
    expect(readFileSync(join(server.dataDir, 'agent', 'volumes', 'vols', 'raw.img'), 'latin1').slice(0, 9)).toBe('blockmark');
    expect((await admin('DELETE', `${P}/volumes/raw`)).status).toBe(200);
  });

  it('is mounted into a container instance too (its root in the container may write)', async () => {
    if (!runc) return console.warn('container case skipped: runc missing (scripts/install-deps.sh installs it)');
    const rootfs = join(dir, 'busybox');
    await buildBusyboxRootfs(rootfs);
    expect((await run(['image', 'import', 'busybox', rootfs])).code).toBe(0);
    expect(await runJob('boxed', 'cat /data/f && echo three > /data/g', 'data', { driver: 'container', image: 'busybox' })).toBe('one\n');
    expect(await runJob('reader', 'cat /data/g')).toBe('three\n');
  });

  it('leaves nothing mounted or attached once its instances are gone, and no data once deleted', async () => {
    expect(mounted()).toEqual([]);
    expect(loops()).toEqual([]);
    const files = () => ['volumes/vols/copy.img', 'snapshots/vols/before.img'].filter((f) => existsSync(join(server.dataDir, 'agent', f)));
    expect(files()).toEqual(['volumes/vols/copy.img', 'snapshots/vols/before.img']);
    expect((await admin('DELETE', `${P}/volumes/copy`)).status).toBe(200);
    expect((await admin('DELETE', `${P}/snapshots/before`)).status).toBe(200);
    await until('their data removed', async () => files(), (f) => f.length === 0, 10_000);
  });
});
