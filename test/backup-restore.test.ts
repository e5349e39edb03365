/**
 * `stratus admin backup` and `stratus admin restore` end to end, on real servers: a backup taken
 * through the API while writes go on holds the cloud at one revision, and a server started on it
 * in a new data dir (with the secret key file copied) serves exactly that; bad files and non-empty
 * targets are refused without writing; only cluster admins may take one. And an agent attached to
 * the old server re-attaches its running instance to the restored one without restarting it.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, client, instance, BIN, type TestServer } from './helpers/server.js';
import { cliRunner, type CliResult } from './helpers/cli.js';
import { agentForgotAll, alive, exitOf, freePort, startAgentProcess, until } from './helpers/processes.js';
import { etcdMissing, startEtcd } from './helpers/etcd.js';

const root = process.getuid?.() === 0;
const noEtcd = etcdMissing();
const P = '/v1/projects/team-a';
const PASSWORD = 'pw-7d1c4e-restored';

interface Inst { metadata: { name: string; uid: string; revision: number; createdAt: string }; spec: unknown; status?: { phase: string; pid?: number; restarts?: number } }

let dir: string;
let cli: ReturnType<typeof cliRunner>;
const servers: TestServer[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-backup-e2e-'));
  cli = cliRunner(join(dir, 'config.json'));
});

afterAll(async () => {
  for (const s of servers) {
    await s.stop();
    s.cleanup();
  }
  rmSync(dir, { recursive: true, force: true });
});

async function server(opts: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(opts);
  servers.push(s);
  return s;
}

/** The CLI as `token` against `s`. */
const as = (s: TestServer, token: string) => (args: string[]) => cli(['--server', s.url, '--token', token, ...args]);

function oneLineError(r: CliResult, message: RegExp): void {
  expect(r.code, r.stdout).not.toBe(0);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr.trimEnd()).toMatch(message);
}

/** Takes a backup into `file` through the CLI; returns its revision and key count after checking the printed line and the file's mode. */
async function backupThroughCli(run: (args: string[]) => Promise<CliResult>, file: string): Promise<{ revision: number; keys: number }> {
  const out = await run(['admin', 'backup', '--out', file]);
  expect(out.stderr).toBe('');
  const m = /^backup of revision (\d+): (\d+) keys, (\d+) bytes -> (.+)\n$/.exec(out.stdout);
  expect(m, out.stdout).not.toBeNull();
  expect([Number(m![3]), m![4]]).toEqual([statSync(file).size, file]);
  expect(statSync(file).mode & 0o777).toBe(0o600);
  return { revision: Number(m![1]), keys: Number(m![2]) };
}

async function tokenFor(admin: ReturnType<typeof client>, user: string, role: string): Promise<string> {
  expect((await admin('POST', '/v1/users', { metadata: { name: user }, spec: { roles: [{ project: 'team-a', role }] } })).status).toBe(201);
  return (await admin('POST', '/v1/tokens', { user })).body.secret as string;
}

/** Creates instances loop-0, loop-1, ... one after the other until stopped; records each one's revision. */
function writeLoop(api: ReturnType<typeof client>) {
  const written: { name: string; revision: number }[] = [];
  let stop = false;
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      const res = await api('POST', `${P}/instances`, instance(`loop-${i}`));
      if (res.status !== 201) throw new Error(`loop-${i}: ${res.status} ${JSON.stringify(res.body)}`);
      written.push({ name: `loop-${i}`, revision: res.body.metadata.revision });
    }
  })();
  return { written, count: () => written.length, stop: () => ((stop = true), done) };
}

const shape = (i: Inst) => ({ name: i.metadata.name, uid: i.metadata.uid, createdAt: i.metadata.createdAt, spec: i.spec });

describe('backup and restore', () => {
  it('restores the objects at the backup revision, and nothing written after it, into a server that serves them', async () => {
    const a = await server();
    const admin = client(a.url, a.token);
    expect((await admin('POST', '/v1/projects', { metadata: { name: 'team-a' }, spec: {} })).status).toBe(201);
    expect((await admin('POST', `${P}/secrets`, { metadata: { name: 'db' }, spec: { data: { password: PASSWORD } } })).status).toBe(201);
    for (const n of ['web-1', 'web-2', 'web-3']) expect((await admin('POST', `${P}/instances`, instance(n))).status).toBe(201);
    const viewer = await tokenFor(admin, 'vera', 'viewer');
    const member = await tokenFor(admin, 'max', 'member');

    // a backup taken while writes go on
    const loop = writeLoop(admin);
    await until('writes before the backup', async () => loop.count(), (n) => n >= 3);
    const file = join(dir, 'cloud.ndjson');
    const taken = await backupThroughCli(as(a, a.token), file);
    const after = loop.count();
    await until('writes after the backup', async () => loop.count(), (n) => n >= after + 3);
    await loop.stop();
    const before = loop.written.filter((w) => w.revision <= taken.revision);
    expect(before.length).toBeGreaterThanOrEqual(3);
    expect(loop.written.length - before.length).toBeGreaterThanOrEqual(3);
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(taken.keys + 2);

    // refused: a truncated file, writing nothing (not even the data dir)
    const cut = join(dir, 'cut.ndjson');
    writeFileSync(cut, readFileSync(file).subarray(0, Math.floor(statSync(file).size / 2)));
    const nothing = join(dir, 'never');
    oneLineError(await cli(['admin', 'restore', cut, '--data-dir', nothing]), /^error: not restored: .*cut\.ndjson: it ends after \d+ keys without its end line: the backup was cut short/);
    expect(existsSync(nothing)).toBe(false);

    const restoredDir = join(dir, 'restored');
    const restored = await cli(['admin', 'restore', file, '--data-dir', restoredDir]);
    expect(restored.stderr).toBe('');
    expect(restored.stdout).toMatch(new RegExp(`^restored revision ${taken.revision} \\(a backup of a sqlite store, taken [^)]+\\): ${taken.keys} keys into ${restoredDir}/stratus\\.db; the store's revision is now ${taken.revision + 1_000_000_000}\n`));
    expect(restored.stdout).toContain(`copy it to ${restoredDir}/secret-keys.json (mode 0600) before starting the server`);

    // refused: a target that is not empty, which is left as it was
    const keysOf = (text: string) => text.trimEnd().split('\n').slice(1, -1);
    const storeUrl = `sqlite://${restoredDir}/stratus.db`;
    const snapshot = async (name: string) => {
      const out = await cli(['admin', 'backup', '--store', storeUrl, '--out', join(dir, name)]);
      expect(out.code, out.stderr).toBe(0);
      return readFileSync(join(dir, name), 'utf8');
    };
    const unchanged = await snapshot('before.ndjson');
    expect(keysOf(unchanged)).toEqual(keysOf(readFileSync(file, 'utf8')));
    oneLineError(await cli(['admin', 'restore', file, '--data-dir', restoredDir]), new RegExp(`^error: not restored: ${restoredDir}/stratus\\.db is not empty: it holds ${taken.keys} keys \\(/.*, \\.\\.\\.\\): restore only into an empty store$`));
    expect(keysOf(await snapshot('after.ndjson'))).toEqual(keysOf(unchanged));

    // only cluster admins take backups; refusals are audited, the backup too
    for (const token of [viewer, member]) {
      const res = await client(a.url, token)('GET', '/v1/backup');
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('STRATUS_ERR_FORBIDDEN');
    }
    const denied = join(dir, 'denied.ndjson');
    oneLineError(await as(a, viewer)(['admin', 'backup', '--out', denied]), /\(STRATUS_ERR_FORBIDDEN\)$/);
    expect(readdirSync(dir).filter((f) => f.includes('denied'))).toEqual([]);
    const audit = (await admin('GET', '/v1/audit?limit=1000')).body.items as { actor: string; action: string; status: number }[];
    expect(audit.filter((e) => e.action === 'backup').map((e) => [e.actor, e.status])).toEqual([
      ['user:vera', 403], ['user:max', 403], ['user:vera', 403], ['user:admin', 200],
    ]);

    // a server on the restored data dir, with the secret key file copied, serves the cloud of the backup
    copyFileSync(join(a.dataDir, 'secret-keys.json'), join(restoredDir, 'secret-keys.json'));
    const b = await server({ dataDir: restoredDir });
    const old = (await admin('GET', `${P}/instances`)).body.items as Inst[];
    const wanted = old.filter((i) => !i.metadata.name.startsWith('loop-') || before.some((w) => w.name === i.metadata.name));
    const got = await client(b.url, b.token)('GET', `${P}/instances`);
    expect(got.body.revision).toBeGreaterThan(taken.revision + 1_000_000_000 - 1);
    expect((got.body.items as Inst[]).map(shape)).toEqual(wanted.map(shape));
    const secret = await client(b.url, b.token)('GET', `${P}/secrets/db?reveal=true`);
    expect(secret.body.spec.data).toEqual({ password: PASSWORD });
    // the tokens are in the store: the viewer reads, and still may not take a backup
    expect((await client(b.url, viewer)('GET', `${P}/instances/web-1`)).status).toBe(200);
    expect((await client(b.url, viewer)('GET', '/v1/backup')).status).toBe(403);
  });
});

describe('a backup that does not complete', () => {
  /** A stand-in API that answers GET /v1/backup with a header and one key, then `then` (end the answer, or hang). */
  async function brokenApi(then: 'end' | 'reset' | 'hang'): Promise<{ url: string; server: Server }> {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"format":"stratus-backup","formatVersion":1,"revision":5,"backend":"sqlite","createdAt":"2025-01-01T00:00:00.000Z","serverVersion":"0"}\n');
      res.write('{"key":"/a","value":"1","createRevision":1,"modRevision":1,"version":1}\n');
      if (then === 'end') res.end();
      if (then === 'reset') setTimeout(() => res.destroy(), 50);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
  }
  const leftovers = (folder: string) => readdirSync(folder);

  it('leaves no file when the download breaks off, or when it is interrupted', async () => {
    const folder = mkdtempSync(join(dir, 'partial-'));
    for (const [then, message] of [
      ['end', (url: string) => `^error: no backup written: the backup from ${url}: it ends after 1 keys without its end line: the backup was cut short`],
      ['reset', (url: string) => `^error: no backup written: the download from ${url} broke off \\(.+\\)$`],
    ] as const) {
      const cutOff = await brokenApi(then);
      try {
        oneLineError(await cli(['--server', cutOff.url, '--token', 't', 'admin', 'backup', '--out', join(folder, 'b.ndjson')]), new RegExp(message(cutOff.url)));
        expect(leftovers(folder)).toEqual([]);
      } finally {
        cutOff.server.closeAllConnections();
        cutOff.server.close();
      }
    }
    const hanging = await brokenApi('hang');
    try {
      const proc = spawn(process.execPath, [BIN, '--server', hanging.url, '--token', 't', 'admin', 'backup', '--out', join(folder, 'b.ndjson')], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, STRATUS_CONFIG: join(dir, 'config.json') } });
      let stderr = '';
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      await until('the download under way', async () => leftovers(folder), (f) => f.length === 1 && statSync(join(folder, f[0]!)).size > 0);
      proc.kill('SIGINT');
      expect(await exitOf(proc, 10_000)).toEqual({ code: 130, signal: null });
      expect(stderr).toMatch(/^SIGINT: backup stopped; .*b\.ndjson was not written\n$/);
      expect(leftovers(folder)).toEqual([]);
    } finally {
      hanging.server.closeAllConnections();
      hanging.server.close();
    }
  });
});

describe.skipIf(Boolean(noEtcd))('a single-server cloud moved to etcd', () => {
  it('migrates its sqlite store, or restores a backup of it, into etcd, where a server serves it', async () => {
    const etcd = await startEtcd({ members: 1 });
    try {
      const a = await server();
      const admin = client(a.url, a.token);
      expect((await admin('POST', '/v1/projects', { metadata: { name: 'team-a' }, spec: {} })).status).toBe(201);
      expect((await admin('POST', `${P}/secrets`, { metadata: { name: 'db' }, spec: { data: { password: PASSWORD } } })).status).toBe(201);
      expect((await admin('POST', `${P}/instances`, instance('web'))).status).toBe(201);
      const objects = async (api: ReturnType<typeof client>) => ((await api('GET', `${P}/instances`)).body.items as Inst[]).map(shape);
      const wanted = await objects(admin);
      await a.stop();

      const from = `sqlite://${a.dataDir}/stratus.db`;
      const to = `${etcd.endpoints}/migrated`;
      const migrated = await cli(['admin', 'migrate', '--from', from, '--to', to]);
      expect(migrated.stderr).toBe('');
      expect(migrated.stdout).toMatch(new RegExp(`^migrated revision \\d+: \\d+ keys from ${from} to ${to}; the store's revision is now \\d+\n`));
      oneLineError(await cli(['admin', 'migrate', '--from', from, '--to', to]), new RegExp(`^error: not migrated: ${to} is not empty: it holds \\d+ keys`));
      // and a backup of the stopped cloud, straight from its store, restored into another prefix
      const file = join(dir, 'to-etcd.ndjson');
      expect((await cli(['admin', 'backup', '--store', from, '--out', file])).code).toBe(0);
      const restored = await cli(['admin', 'restore', file, '--store', `${etcd.endpoints}/restored`]);
      expect(restored.stdout).toContain(`into ${etcd.endpoints}/restored;`);

      for (const prefix of ['migrated', 'restored']) {
        const dataDir = mkdtempSync(join(dir, `etcd-${prefix}-`));
        copyFileSync(join(a.dataDir, 'secret-keys.json'), join(dataDir, 'secret-keys.json'));
        const b = await server({ dataDir, args: ['--store', `${etcd.endpoints}/${prefix}`] });
        const api = client(b.url, b.token);
        expect(await objects(api)).toEqual(wanted);
        expect((await api('GET', `${P}/secrets/db?reveal=true`)).body.spec.data).toEqual({ password: PASSWORD });
        await b.stop();
      }
    } finally {
      await etcd.stop();
    }
  });
});

describe.skipIf(!root)('an agent after a restore', () => {
  it('re-attaches its running instance to the restored server without restarting it; what was made after the backup is stopped', async () => {
    const args = ['--port', String(await freePort()), '--node-timeout', '30s'];
    const a = await server({ args });
    const admin = client(a.url, a.token);
    const join1 = (await admin('POST', '/v1/join-tokens', {})).body.secret as string;
    const agentDir = join(dir, 'agent');
    const agent = await startAgentProcess(a.url, join1, agentDir, 'n1', ['--heartbeat', '1s']);
    let b: TestServer | undefined;
    const running = async (api: ReturnType<typeof client>, name: string) => until(`${name} running`, async () => (await api('GET', `/v1/projects/default/instances/${name}`)).body as Inst,
      (i) => i.status?.phase === 'Running' && i.status.pid !== undefined, 60_000, agent.out);
    try {
      expect((await admin('POST', '/v1/projects/default/instances', instance('web'))).status).toBe(201);
      const web = await running(admin, 'web');
      const file = join(dir, 'agent-cloud.ndjson');
      await backupThroughCli(as(a, a.token), file);
      expect((await admin('POST', '/v1/projects/default/instances', instance('late'))).status).toBe(201);
      const late = await running(admin, 'late');

      await a.stop();
      const restoredDir = join(dir, 'agent-restored');
      expect((await cli(['admin', 'restore', file, '--data-dir', restoredDir])).code).toBe(0);
      copyFileSync(join(a.dataDir, 'secret-keys.json'), join(restoredDir, 'secret-keys.json'));
      b = await server({ dataDir: restoredDir, args });
      const api = client(b.url, b.token);

      const startedAt = Date.now();
      await until('n1 reports to the restored server', async () => (await api('GET', '/v1/nodes/n1')).body,
        (n) => n.status?.phase === 'Ready' && Date.parse(n.status.lastHeartbeat) > startedAt, 30_000, agent.out);
      const again = await running(api, 'web');
      expect([again.metadata.uid, again.status!.pid, again.status!.restarts ?? 0]).toEqual([web.metadata.uid, web.status!.pid, web.status!.restarts ?? 0]);
      expect(alive(web.status!.pid!)).toBe(true);
      // not in the backup: the restored cloud has no such instance, and the agent stops it
      expect((await api('GET', '/v1/projects/default/instances/late')).status).toBe(404);
      await until('late stopped', async () => alive(late.status!.pid!), (up) => !up, 60_000, agent.out);
    } finally {
      // Best effort: a failure above must not be hidden by one here.
      const live = b ?? a;
      await client(live.url, live.token)('DELETE', '/v1/projects/default/instances/web').then(() => agentForgotAll(agentDir)).catch((e: Error) => console.error(`cleanup: ${e.message}`));
      await agent.stop();
    }
  });
});
