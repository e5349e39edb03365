/**
 * A VM's root disk on a real node (issue 14): made as a qcow2 overlay on the node's copy of its
 * disk image when the instance starts, kept across an agent restart while the VM runs, swept for
 * instances gone while the agent was down, and removed with the instance. The guest need not
 * boot (a blank disk: QEMU runs its firmware), so no image build is needed.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, client, type TestServer } from './helpers/server.js';
import { cliRunner } from './helpers/cli.js';
import { agentForgotAll, until } from './helpers/processes.js';
import { hasQemuImg, qemuImgCreate } from '../src/node/agent/disks-testing.js';

const hasQemu = hasQemuImg && (() => {
  try {
    execFileSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const root = process.getuid?.() === 0;
const MiB = 2 ** 20;

let dir: string;
let dataDir: string;
let server: TestServer | undefined;
let api: ReturnType<typeof client>;

const node = `vm-disks-${process.pid}`;
const start = async () => {
  server = await startTestServer({ dataDir, agent: true, args: ['--node-name', node, '--network', 'host', '--vm-accel', 'tcg', '--capacity', 'cpu=4,memory=4Gi,disk=10Gi'] });
  api = client(server.url, server.token);
};
const roots = () => join(dataDir, 'agent', 'vm-disks');
const phase = async (name: string) => (await api('GET', `/v1/projects/default/instances/${name}`)).body?.status?.phase as string | undefined;

beforeAll(async () => {
  if (!hasQemu || !root) return;
  dir = mkdtempSync(join(tmpdir(), 'stratus-vm-disks-'));
  dataDir = join(dir, 'data');
  await start();
}, 60_000);

afterAll(async () => {
  if (server) {
    await api('DELETE', '/v1/projects/default/instances/blank');
    await agentForgotAll(join(dataDir, 'agent'));
    await server.stop();
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasQemu || !root)('a VM\'s root disk on its node', () => {
  it('is an overlay made at start, kept over an agent restart, and removed with the instance; others are swept', async () => {
    const run = cliRunner(join(dir, 'cli.json'), { STRATUS_SERVER: server!.url, STRATUS_TOKEN: server!.token });
    const imported = await run(['image', 'import', 'blank', qemuImgCreate(dir, 'blank.qcow2', 'qcow2', 16 * MiB), '--type', 'disk']);
    expect(imported.code, imported.stderr).toBe(0);
    const created = await api('POST', '/v1/projects/default/instances', { kind: 'instance', metadata: { name: 'blank' }, spec: { driver: 'vm', image: 'blank', resources: { cpu: '500m', memory: '64Mi', disk: '64Mi' } } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const uid = created.body.metadata.uid as string;
    await until('blank Running', () => phase('blank'), (p) => p === 'Running', 60_000);
    const disk = join(roots(), uid, 'root.qcow2');
    const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', '-f', 'qcow2', disk], { encoding: 'utf8' })) as Record<string, unknown>;
    expect(info).toMatchObject({ 'virtual-size': 64 * MiB, 'backing-filename-format': 'qcow2' });
    expect(String(info['backing-filename'])).toMatch(new RegExp(`/agent/disk-images/[0-9a-f]{64}\\.qcow2$`));
    const inode = statSync(disk).ino;

    // The agent goes down hard; an instance it had (say, deleted meanwhile) left a disk behind.
    await server!.kill();
    mkdirSync(join(roots(), 'gone-while-down'));
    await start();
    await until('gone-while-down swept', async () => readdirSync(roots()), (names) => !names.includes('gone-while-down'));
    expect(await phase('blank')).toBe('Running');
    expect(statSync(disk).ino).toBe(inode); // the same disk, not made again

    expect((await api('DELETE', '/v1/projects/default/instances/blank')).status).toBe(200);
    await until('blank\'s disk removed', async () => existsSync(join(roots(), uid)), (left) => !left);
    expect(readdirSync(roots())).toEqual([]);
  }, 150_000);
});
