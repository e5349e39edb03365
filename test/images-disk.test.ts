/**
 * Disk images end to end with the real CLI against a real server (issue 14): import qcow2 and raw
 * (from a file and from stdin), the checks of the CLI and of the server (a backing file is never
 * accepted), and admission of vm instances against them. No agent: nothing here boots.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, client, BIN, type TestServer } from './helpers/server.js';
import { cliRunner, type CliResult } from './helpers/cli.js';
import { hasQemuImg, qemuImgCreate } from '../src/node/agent/disks-testing.js';

const MiB = 2 ** 20;
let server: TestServer;
let api: ReturnType<typeof client>;
let run: (args: string[], input?: string) => Promise<CliResult>;
let dir: string;
let env: Record<string, string>;

/** The CLI with its stdin read from `file` (binary). */
function runWithStdin(args: string[], file: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: [openSync(file, 'r'), 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const qemuImg = (name: string, format: string, size: number, extra: string[] = []) => qemuImgCreate(dir, name, format, size, extra);

function expectOneLineError(r: CliResult, pattern: RegExp): void {
  expect(r.code, r.stdout + r.stderr).not.toBe(0);
  expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr.trimEnd()).toMatch(pattern);
}

const vm = (name: string, spec: Record<string, unknown>) => ({ kind: 'instance', metadata: { name }, spec: { driver: 'vm', ...spec } });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-disk-images-'));
  server = await startTestServer({ agent: false });
  api = client(server.url, server.token);
  env = { STRATUS_CONFIG: join(dir, 'cli.json'), STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token, STRATUS_PROJECT: '' };
  run = cliRunner(join(dir, 'cli.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  server?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasQemuImg)('disk images', () => {
  it('imports qcow2 from a file and raw from stdin, recording format, virtual size and checksum', async () => {
    const qcow = qemuImg('debian.qcow2', 'qcow2', 64 * MiB);
    const imported = await run(['image', 'import', 'debian', qcow, '--type', 'disk']);
    expect(imported.stderr).toBe('');
    expect(imported.stdout).toMatch(/^image\/debian imported \(\d+ KiB, qcow2, virtual size 64\.0 MiB, sha256:[0-9a-f]{12}\)\n$/);
    const raw = qemuImg('plain.raw', 'raw', 2 * MiB);
    writeFileSync(raw, Buffer.from('stratus'), { flag: 'r+' });
    const piped = await runWithStdin(['image', 'import', 'plain', '-', '--type', 'disk'], raw);
    expect(piped.stdout, piped.stderr).toMatch(/^image\/plain imported \(2048 KiB, raw, virtual size 2\.0 MiB, /);
    const { body } = await api('GET', '/v1/projects/default/images/plain');
    expect(body.spec).toEqual({ type: 'disk' });
    expect(body.status).toMatchObject({ phase: 'Ready', format: 'raw', virtualSize: 2 * MiB, size: 2 * MiB });
    const content = await fetch(`${server.url}/v1/projects/default/images/plain/content`, { headers: { authorization: `Bearer ${server.token}` } });
    expect(Buffer.from(await content.arrayBuffer()).equals(readFileSync(raw))).toBe(true);
    const table = (await run(['get', 'images'])).stdout.split('\n');
    expect(table[0]).toMatch(/^NAME +TYPE +STATUS +SIZE +DIGEST +AGE$/);
    expect(table.find((l) => l.startsWith('debian '))).toMatch(/^debian +disk\/qcow2 +Ready /);
  });

  it('refuses other formats and a qcow2 with a backing file, in the CLI and in the server, creating nothing', async () => {
    expectOneLineError(await run(['image', 'import', 'vmdk', qemuImg('a.vmdk', 'vmdk', 8 * MiB), '--type', 'disk']), /^error: \S+a\.vmdk is a VMDK disk image, not a qcow2 or raw disk image; convert it with `qemu-img convert -O qcow2 IN OUT\.qcow2` and import that$/);
    expect((await api('GET', '/v1/projects/default/images/vmdk')).status).toBe(404);
    const base = qemuImg('base.qcow2', 'qcow2', 8 * MiB);
    const over = qemuImg('over.qcow2', 'qcow2', 8 * MiB, ['-F', 'qcow2', '-b', base]);
    expectOneLineError(await run(['image', 'import', 'over', over, '--type', 'disk']), /is a qcow2 image with a backing file; images must stand alone/);
    expectOneLineError(await run(['image', 'import', 'rootfs', qemuImg('b.qcow2', 'qcow2', 8 * MiB)]), /is not a tar archive .*; it is a qcow2 disk image: add --type disk$/);
    // A client that skips the CLI's check meets the server's, which names the problem and keeps nothing.
    expect((await api('POST', '/v1/projects/default/images', { kind: 'image', metadata: { name: 'sneaky' }, spec: { type: 'disk' } })).status).toBe(201);
    const put = await fetch(`${server.url}/v1/projects/default/images/sneaky/content`, { method: 'PUT', headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/octet-stream' }, body: readFileSync(over) });
    const refused = await put.json() as { error: { code: string; message: string } };
    expect(put.status).toBe(400);
    expect(refused.error).toMatchObject({ code: 'STRATUS_ERR_VALIDATION' });
    expect(refused.error.message).toMatch(/^the upload is a qcow2 image with a backing file; images must stand alone.* \(image "sneaky" is a disk image, spec\.type: disk\)$/);
    expect((await api('GET', '/v1/projects/default/images/sneaky')).body.status).toEqual({ phase: 'Empty' });
    const odd = await fetch(`${server.url}/v1/projects/default/images/sneaky/content`, { method: 'PUT', headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/octet-stream' }, body: Buffer.alloc(1000) });
    expect(odd.status).toBe(400);
    expect(((await odd.json()) as { error: { message: string } }).error.message).toMatch(/^the upload is 1000 bytes, not a whole number of 512-byte sectors/);
    // the type is fixed once the image exists
    mkdirSync(join(dir, 'rootfs/bin'), { recursive: true });
    writeFileSync(join(dir, 'rootfs/bin/hello'), 'echo hello\n');
    const retype = await run(['image', 'import', 'sneaky', join(dir, 'rootfs'), '--type', 'rootfs']);
    expectOneLineError(retype, /spec\.type: cannot change from disk to rootfs once the image exists/);
  });

  it('admits a vm only on a disk image that fits its disk, and keeps an image in use', async () => {
    const post = (body: unknown) => api('POST', '/v1/projects/default/instances', body);
    const small = await post(vm('small', { image: 'debian', resources: { disk: '32Mi' } }));
    expect(small.status).toBe(400);
    expect(small.body.error.message).toBe('spec.resources.disk: 32Mi is smaller than image "debian" (a 64Mi disk); ask for at least 64Mi');
    const box = await api('POST', '/v1/projects/default/images', { kind: 'image', metadata: { name: 'box' }, spec: {} });
    expect(box.status).toBe(201);
    expect((await post(vm('onbox', { image: 'box' }))).body.error.message).toMatch(/^spec\.image: image "box" is a rootfs image; the vm driver needs a disk image/);
    expect((await post({ kind: 'instance', metadata: { name: 'c' }, spec: { driver: 'container', image: 'debian' } })).body.error.message).toMatch(/^spec\.image: image "debian" is a disk image; the container driver needs a rootfs image/);
    expect((await post({ kind: 'instance', metadata: { name: 'p' }, spec: { driver: 'process', command: ['true'], userData: '#!/bin/sh' } })).body.error.message).toMatch(/^spec\.userData: applies to the vm driver only/);
    expect((await post(vm('big-data', { image: 'debian', userData: 'x'.repeat(70_000) }))).body.error.message).toMatch(/^spec\.userData: /);
    const ok = await post(vm('web', { image: 'debian', resources: { cpu: 1, memory: '256Mi', disk: '1Gi' }, userData: '#!/bin/sh\necho hi\n', sshKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ana@laptop'] }));
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expectOneLineError(await run(['delete', 'image', 'debian']), /^error: image\/debian: image "debian" of project "default" is used by instance web; delete them first \(STRATUS_ERR_DEPENDENCY\)$/);
    expect((await run(['delete', 'instance', 'web'])).code).toBe(0);
    expect((await run(['delete', 'image', 'debian'])).stdout).toBe('image/debian deleted\n');
  });
});
