/**
 * Several servers on one etcd, as a user runs them: TLS to etcd with the --etcd-* flags, the
 * secret key file shared (a server with another one refuses to start and says what to copy),
 * a secret written through one server read through another, and an image archive uploaded to one
 * server served by another (fetched from its peer, checked by digest; the peer route takes no
 * user token).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { etcdMissing, makeEtcdCerts, startEtcd, type EtcdCluster } from './helpers/etcd.js';
import { startHa, type Ha } from './helpers/ha.js';
import { client, startTestServer, ADMIN_TOKEN } from './helpers/server.js';
import { cliRunner } from './helpers/cli.js';

const skip = etcdMissing();

let etcd: EtcdCluster;
let ha: Ha;
let dir: string;
let tlsArgs: string[];

beforeAll(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'stratus-ha-test-'));
  const certs = makeEtcdCerts(dir);
  etcd = await startEtcd({ members: 1, tls: { caFile: certs.ca, certFile: certs.serverCert, keyFile: certs.serverKey } });
  tlsArgs = ['--etcd-cacert', certs.ca, '--etcd-cert', certs.clientCert, '--etcd-key', certs.clientKey];
  ha = await startHa({ store: etcd.endpoints, servers: 2, args: tlsArgs });
}, 120_000);

afterAll(async () => {
  await ha?.stop();
  await etcd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(Boolean(skip))('several servers on one etcd', () => {
  it('serve one cloud over TLS to etcd: a secret written through one reads through the other', async () => {
    const [a, b] = ha.servers.map((s) => client(s.url, ADMIN_TOKEN));
    expect((await a!('POST', '/v1/projects/default/secrets', { kind: 'secret', metadata: { name: 'db' }, spec: { data: { password: 'hunter2' } } })).status).toBe(201);
    const revealed = await b!('GET', '/v1/projects/default/secrets/db?reveal=true');
    expect(revealed.status, JSON.stringify(revealed.body)).toBe(200);
    expect(JSON.stringify(revealed.body)).toContain('hunter2');
    const status = await b!('GET', '/v1/cluster/status');
    expect(status.body.store).toMatchObject({ backend: 'etcd', members: [expect.objectContaining({ healthy: true, endpoint: expect.stringMatching(/^127\.0\.0\.1:\d+$/) })] });
  });

  it('refuses to start a server whose secret key file is not the cloud\'s, saying what to copy', async () => {
    const other = mkdtempSync(join(tmpdir(), 'stratus-ha-other-'));
    try {
      const err = await startTestServer({ dataDir: other, args: ['--store', etcd.endpoints, ...tlsArgs] }).then(() => 'started', (e: Error) => e.message);
      expect(err).toMatch(/server exited with 1/);
      expect(err).toMatch(/the store's secret values are sealed with key "k-[0-9a-f]+", which .*secret-keys\.json does not have .*copy it from a running server of this cloud/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('serves an image uploaded to one server from another, by digest; the peer route takes no user token', async () => {
    const root = join(dir, 'rootfs');
    mkdirSync(join(root, 'bin'), { recursive: true });
    writeFileSync(join(root, 'bin', 'hello'), '#!/bin/sh\necho hello\n');
    const cli = cliRunner(join(dir, 'cli.json'), { STRATUS_SERVER: ha.servers[0]!.url, STRATUS_TOKEN: ADMIN_TOKEN });
    const imported = await cli(['image', 'import', 'tiny', root]);
    expect(imported.code, imported.stderr).toBe(0);
    const res = await fetch(`${ha.servers[1]!.url}/v1/projects/default/images/tiny/content`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    const digest = res.headers.get('x-stratus-digest')!;
    expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(digest);
    expect(execFileSync('tar', ['-tf', '-'], { input: bytes }).toString()).toContain('bin/hello');
    // the route between servers: no MAC, a user's token, or a wrong MAC → 403
    for (const headers of [{}, { authorization: `Bearer ${ADMIN_TOKEN}` }, { 'x-stratus-peer': '0'.repeat(64) }] as Record<string, string>[]) {
      expect((await fetch(`${ha.servers[0]!.url}/peer/blobs/${digest}`, { headers })).status).toBe(403);
    }
  });
});
