/** Drives the real `stratus` CLI against a real server, as a new user would. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, BIN, type TestServer } from './helpers/server.js';
import { cliRunner } from './helpers/cli.js';

let server: TestServer;
let dir: string;
let run: ReturnType<typeof cliRunner>;

const INSTANCES = `
kind: instance
metadata:
  name: web-1
  labels: {app: web}
spec:
  driver: process
  command: [sleep, "3600"]
  resources: {cpu: 250m, memory: 64Mi}
---
kind: Instance
metadata: {name: web-2, labels: {app: web}}
spec:
  driver: process
  command: [sleep, "3600"]
`;

beforeAll(async () => {
  server = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'stratus-cli-'));
  run = cliRunner(join(dir, 'config.json'));
  writeFileSync(join(dir, 'instances.yaml'), INSTANCES);
});

afterAll(async () => {
  await server.stop();
  server.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** Every failure is exactly one line on stderr and a non-zero exit. */
function expectOneLineError(r: { code: number; stderr: string }, pattern: RegExp) {
  expect(r.code).not.toBe(0);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr.trimEnd()).toMatch(pattern);
}

describe('stratus CLI', () => {
  it('logs in, saves a private context and shows who you are', async () => {
    expectOneLineError(await run(['login', '--server', server.url, '--token', 'wrong-token-xxxxxxxxxx']), /^error: the token is not valid.*\(STRATUS_ERR_UNAUTHENTICATED\)$/);
    expectOneLineError(await run(['whoami']), /^error: not logged in: run `stratus login/);
    const login = await run(['login', '--server', server.url, '--token', server.token]);
    expect(login.code).toBe(0);
    expect(login.stdout).toMatch(/logged in to .* as user:admin/);
    expect(statSync(join(dir, 'config.json')).mode & 0o777).toBe(0o600);
    const who = await run(['whoami']);
    expect(who.stdout).toMatch(/user:admin/);
    expect(who.stdout).toMatch(/cluster admin/);
  });

  it('creates a project and a member token, and works as that member', async () => {
    expect((await run(['project', 'create', 'team-a', '--quota', 'cpu=4,memory=8Gi'])).code).toBe(0);
    const tok = await run(['-p', 'team-a', 'token', 'create', '--role', 'member', '--name', 'ci']);
    expect(tok.code).toBe(0);
    const secret = tok.stdout.trim();
    expect(secret).toMatch(/^stratus_/);
    const member = cliRunner(join(dir, 'member.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: secret, STRATUS_PROJECT: 'team-a' });
    const applied = await member(['apply', '-f', join(dir, 'instances.yaml')]);
    expect(applied.stdout).toMatch(/^instance\/web-1\s+created\ninstance\/web-2\s+created\n$/);
    expect((await member(['apply', '-f', join(dir, 'instances.yaml')])).stdout).toBe('No changes.\n');
    const table = await member(['get', 'instances']);
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+DRIVER\s+PHASE\s+NODE\s+RESTARTS\s+AGE$/);
    expect(table.stdout).toMatch(/web-1\s+process\s+Pending/);
    const json = JSON.parse((await member(['get', 'instances', '-l', 'app=web', '-o', 'json'])).stdout) as { items: { spec: { resources: { cpu: string } } }[] };
    expect(json.items.map((i) => i.spec.resources.cpu)).toEqual(['250m', '100m']);
    const yaml = await member(['get', 'instance', 'web-1', '-o', 'yaml']);
    writeFileSync(join(dir, 'roundtrip.yaml'), yaml.stdout);
    expect((await member(['apply', '-f', join(dir, 'roundtrip.yaml')])).stdout).toBe('No changes.\n');
    let described = await member(['describe', 'instance', 'web-1']);
    for (let i = 0; i < 50 && !described.stdout.includes('no nodes have joined'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      described = await member(['describe', 'instance', 'web-1']);
    }
    expect(described.stdout).toMatch(/^Name:\s+web-1$/m);
    expect(described.stdout).toMatch(/^Phase:\s+Pending \(NoNodes\)$/m);
    expect(described.stdout).toMatch(/^Message:\s+no nodes have joined$/m);
    expect(described.stdout).toMatch(/Warning\s+FailedScheduling\s+.*no nodes have joined/);
    expectOneLineError(await member(['get', 'instances', '-p', 'default']), /needs the viewer role in project "default".*STRATUS_ERR_FORBIDDEN/);
    expect((await member(['delete', 'instance', 'web-2'])).stdout).toBe('instance/web-2 deleted\n');
    expectOneLineError(await member(['delete', 'instance', 'web-2']), /instance "web-2" not found/);
  });

  it('explains bad input in one line', async () => {
    const bad = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    expectOneLineError(await run(['apply', '-f', bad('syntax.yaml', 'kind: instance\nmetadata:\n  name: [oops\n')]), /syntax\.yaml:\d+:\d+: YAML syntax error/);
    expectOneLineError(await run(['apply', '-f', bad('kind.yaml', 'kind: gizmo\nmetadata: {name: g}\nspec: {}\n')]), /unknown kind "gizmo"/);
    const quantity = await run(['-p', 'team-a', 'apply', '-f', bad('qty.yaml', 'kind: instance\nmetadata: {name: q}\nspec: {driver: process, command: [x], resources: {memory: 12Qi}}\n')]);
    expect(quantity.code).toBe(1);
    expect(quantity.stderr).toMatch(/nothing was applied:\n {2}\S+qty\.yaml:3: instance\/q spec\.resources\.memory: "12Qi" is not a size/);
    expectOneLineError(await run(['get', 'gizmos']), /unknown kind "gizmos"/);
    expectOneLineError(await run(['get', 'instances', '-o', 'xml']), /-o xml: unknown output format/);
    expectOneLineError(await run(['apply', '-f', join(dir, 'missing.yaml')]), /cannot read .*missing\.yaml: no such file/);
    expectOneLineError(await run(['get', 'instances', '-l', 'a in (b']), /^error: -l "a in \(b": unbalanced/);
    const usage = await run(['get']);
    expect(usage.code).toBe(2);
  });

  it('watches changes as they happen', async () => {
    const proc = spawn(process.execPath, [BIN, '-p', 'team-a', 'get', 'instances', '--watch'], {
      env: { ...process.env, STRATUS_CONFIG: join(dir, 'config.json') },
    });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor(() => out.includes('web-1'), () => out);
      await run(['-p', 'team-a', 'apply', '-f', join(dir, 'instances.yaml')]);
      await waitFor(() => /web-2\s+process\s+Pending/.test(out), () => out);
      await run(['-p', 'team-a', 'delete', 'instance', 'web-2']);
      await waitFor(() => /web-2\s+process\s+Deleted/.test(out), () => out);
      expect(out.match(/^NAME/gm)).toHaveLength(1);
    } finally {
      proc.kill('SIGINT');
    }
  });

  it('shows the audit trail and documents the server flags', async () => {
    const audit = await run(['audit', '--limit', '100']);
    expect(audit.stdout).toMatch(/token:ci\s+ci\s+create\s+instance\/team-a\/web-1\s+201/); // actor, then the token that acted
    expect(audit.stdout).toMatch(/token:ci\s+ci\s+create\s+instance\/default\s+403|token:ci/);
    const help = await run(['server', '--help']);
    for (const flag of ['--data-dir', '--port', '--listen', '--bootstrap-token', '--store', '--tls-cert']) expect(help.stdout).toContain(flag);
    expect(help.stdout).toContain('STRATUS_BOOTSTRAP_TOKEN');
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { contexts: Record<string, unknown> };
    expect(Object.keys(cfg.contexts)).toHaveLength(1);
  });

  it('a server that cannot start says why in one line and exits non-zero', async () => {
    const fresh = join(dir, 'fresh-data');
    expectOneLineError(await run(['server', '--data-dir', fresh, '--port', '0', '--no-agent', '--bootstrap-token', 'short']), /^error: the server did not start: --bootstrap-token must be at least 16 characters \(it was 5\)$/);
    expectOneLineError(await run(['server', '--data-dir', server.dataDir, '--port', '0', '--no-agent']), /^error: the server did not start: the store .* is in use by another process/);
    const usage = await run(['server', '--data-dir', fresh, '--port', 'eighty']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^error: option '--port <n>' argument 'eighty' is invalid\. "eighty" is not a TCP port/);
  });
});

async function waitFor(cond: () => boolean, show: () => string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting; output so far:\n${show()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
