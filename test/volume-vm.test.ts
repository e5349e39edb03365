/**
 * A volume as a VM's disk: the vm instance gets its volume as a raw virtio disk after its root
 * disk (/dev/vdb in the guest of scripts/build-vm-image.sh), and what the guest writes there is
 * in the volume's file on the node, after the VM is gone. One TCG boot (~5-10 s).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { client, startTestServer, type TestServer } from './helpers/server.js';
import { cliRunner, type CliResult } from './helpers/cli.js';
import { until } from './helpers/processes.js';
import { builtVmImage, vmTestsUnavailable } from '../src/node/drivers/vm/testing.js';

const why = vmTestsUnavailable();
if (why) console.warn(`volume VM suite skipped: ${why}`);

let server: TestServer;
let dir: string;
let admin: ReturnType<typeof client>;
let run: (args: string[]) => Promise<CliResult>;
const node = `volvm-${process.pid}`;
const P = '/v1/projects/vmvols';
const MARK = 'stratus-volume-written-by-the-guest';

beforeAll(async () => {
  if (why) return;
  dir = mkdtempSync(join(tmpdir(), 'stratus-volvm-'));
  const image = await builtVmImage();
  server = await startTestServer({ agent: true, args: ['--node-name', node, '--network', 'host'] });
  admin = client(server.url, server.token);
  run = cliRunner(join(dir, 'config.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token, STRATUS_PROJECT: 'vmvols' });
  expect((await run(['project', 'create', 'vmvols'])).code).toBe(0);
  const imported = await run(['image', 'import', 'debvm', image, '--type', 'disk']);
  expect(imported.code, imported.stderr).toBe(0);
  await until('the node', () => admin('GET', `/v1/nodes/${node}`).then((r) => r.body), (n) => n?.status?.phase === 'Ready', 60_000);
}, 600_000);

afterAll(async () => {
  if (why) return;
  await admin('DELETE', `${P}?cascade=true`).catch(() => undefined);
  await until('every instance destroyed', () => admin('GET', '/v1/instances').then((r) => r.body.items.length), (n) => n === 0, 60_000).catch(() => undefined);
  await server.stop();
  server.cleanup();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe.skipIf(!!why)('a volume as a VM disk', () => {
  it('is the guest\'s second virtio disk, and keeps what the guest wrote after the VM is deleted', async () => {
    expect((await admin('POST', `${P}/volumes`, { kind: 'volume', metadata: { name: 'disk' }, spec: { size: '16Mi', type: 'block' } })).status).toBe(201);
    const vm = await admin('POST', `${P}/instances`, {
      kind: 'instance', metadata: { name: 'vm' },
      spec: {
        driver: 'vm', image: 'debvm', resources: { cpu: 1, memory: '256Mi', disk: '64Mi' }, restartPolicy: 'never',
        userData: `#!/bin/sh\necho ${MARK} > /dev/vdb\nsync\necho volume-written\n`,
        volumes: [{ volume: 'disk', path: '/dev/vdb' }],
      },
    });
    expect(vm.status, JSON.stringify(vm.body)).toBe(201);
    const file = join(server.dataDir, 'agent', 'volumes', 'vmvols', 'disk.img');
    await until('the guest\'s write in the volume', async () => (await run(['logs', 'vm'])).stdout, (l) => l.includes('volume-written'), 120_000);
    expect(await until('the data on the node', async () => readFileSync(file, 'latin1').slice(0, MARK.length), (s) => s === MARK, 10_000)).toBe(MARK);
    expect((await admin('DELETE', `${P}/instances/vm`)).status).toBe(200);
    await until('the VM gone', () => admin('GET', `${P}/instances/vm`).then((r) => r.status), (s) => s === 404, 60_000);
    expect(readFileSync(file, 'latin1').slice(0, MARK.length)).toBe(MARK);
    expect((await admin('GET', `${P}/volumes/disk`)).body.status).toMatchObject({ phase: 'Available', node });
  });
});
