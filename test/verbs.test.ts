/**
 * The everyday verbs end to end, on the one-machine cloud (server, embedded agent): `stratus exec`
 * (pipes and -it on a pseudo-terminal), `cp` both ways, `port-forward` to an instance and to a
 * service, `completion`; a process and a container instance of team-a; and a member of team-a
 * who tries them on team-b's instance, the node's ports and the agent's endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { BIN, client, startTestServer, type TestServer } from './helpers/server.js';
import { cliRunner, type CliResult } from './helpers/cli.js';
import { until } from './helpers/processes.js';
import { hasCommand, teardownTenants } from './helpers/tenants.js';
import { buildBusyboxRootfs } from '../src/node/drivers/images.js';
import { hashToken } from '../src/policy/auth.js';
import { SIGNATURE_HEADER, sign } from '../src/client/node-signing.js';

const has = hasCommand;
const why = process.getuid?.() !== 0 ? 'not root' : !has('runc') ? 'runc is not installed' : !existsSync('/bin/busybox') ? 'busybox-static is not installed' : !has('script') ? 'script (util-linux) is not installed' : '';
if (why) console.warn(`verbs suite skipped: ${why}`);

let server: TestServer;
let dir: string;
let admin: ReturnType<typeof client>;
let aliceToken: string;
let asAlice: (args: string[], input?: string) => Promise<CliResult>;
let asBob: (args: string[], input?: string) => Promise<CliResult>;
const node = `verbs-${process.pid}`;
const HTTPD = (text: string) => ['sh', '-c', `mkdir -p /tmp/www && echo ${text} > /tmp/www/index.html && exec busybox httpd -f -p \${PORT:-8080} -h /tmp/www`];
const inst = (name: string, spec: Record<string, unknown>) => ({ kind: 'instance', metadata: { name }, spec: { resources: { cpu: '100m', memory: '64Mi' }, ...spec } });
const aliceEnv = () => ({ STRATUS_SERVER: server.url, STRATUS_TOKEN: aliceToken, STRATUS_PROJECT: 'team-a' });

async function running(project: string, name: string) {
  return until(`${project}/${name} running`, () => admin('GET', `/v1/projects/${project}/instances/${name}`).then((r) => r.body), (b) => b?.status?.phase === 'Running', 60_000);
}

/** A CLI process that keeps running (port-forward); `waitFor` polls its output. */
function background(args: string[], env: Record<string, string>) {
  const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, STRATUS_CONFIG: join(dir, 'bg.json'), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, out: () => out, exited, waitFor: (re: RegExp) => until(`${re} in the output`, async () => re.exec(out), (m) => m !== null, 30_000, () => out) };
}

/**
 * Runs the CLI on a pseudo-terminal of 30x90 (script, from util-linux), typing each `send` once
 * the output since the previous step matches its `after`. Resolves with the output and exit code.
 */
async function underTerminal(args: string[], steps: { after: RegExp; send: string }[]): Promise<{ code: number | null; output: string }> {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const env = Object.entries(aliceEnv()).map(([k, v]) => `${k}=${q(v)}`).join(' ');
  const line = `stty rows 30 cols 90; exec env STRATUS_CONFIG=${q(join(dir, 'tty.json'))} ${env} ${[process.execPath, BIN, ...args].map(q).join(' ')}`;
  const proc: ChildProcess = spawn('script', ['-qec', line, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  let from = 0;
  for (const step of steps) {
    const at = await until(`${step.after} on the terminal`, async () => step.after.exec(output.slice(from)), (m) => m !== null, 30_000, () => output);
    from += at!.index + at![0].length;
    proc.stdin!.write(step.send);
  }
  return { code: await exited, output };
}

/** What the API answers a WebSocket request: 101 when it upgrades, else the status and the body. */
function wsAnswer(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers });
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', () => undefined);
  });
}

beforeAll(async () => {
  if (why) return;
  dir = mkdtempSync(join(tmpdir(), 'stratus-verbs-'));
  server = await startTestServer({ agent: true, args: ['--node-name', node, '--netns-prefix', `vb${process.pid % 10000}-`] });
  admin = client(server.url, server.token);
  for (const p of ['team-a', 'team-b']) expect((await admin('POST', '/v1/projects', { kind: 'project', metadata: { name: p }, spec: {} })).status).toBe(201);
  for (const [user, role] of [['alice', 'member'], ['bob', 'viewer']]) {
    expect((await admin('POST', '/v1/users', { kind: 'user', metadata: { name: user }, spec: { roles: [{ project: 'team-a', role }] } })).status).toBe(201);
  }
  aliceToken = (await admin('POST', '/v1/tokens', { user: 'alice' })).body.secret;
  const bobToken = (await admin('POST', '/v1/tokens', { user: 'bob' })).body.secret;
  asAlice = cliRunner(join(dir, 'alice.json'), aliceEnv());
  asBob = cliRunner(join(dir, 'bob.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: bobToken, STRATUS_PROJECT: 'team-a' });
  await until('the node', () => admin('GET', `/v1/nodes/${node}`).then((r) => r.body), (n) => n?.status?.phase === 'Ready');
  await buildBusyboxRootfs(join(dir, 'busybox'));
  expect((await asAlice(['image', 'import', 'busybox', join(dir, 'busybox')])).code).toBe(0);
  const a = client(server.url, aliceToken);
  expect((await a('POST', '/v1/projects/team-a/instances', inst('web', { driver: 'process', command: HTTPD('hello-from-web'), ports: [{ port: 8080 }] }))).status).toBe(201);
  expect((await a('POST', '/v1/projects/team-a/instances', inst('box', { driver: 'container', image: 'busybox', command: ['sleep', '3600'] }))).status).toBe(201);
  const site = { kind: 'service', metadata: { name: 'site' }, spec: { replicas: 1, template: { spec: inst('x', { driver: 'process', command: HTTPD('hello-from-site'), ports: [{ port: 8080 }] }).spec } } };
  expect((await a('POST', '/v1/projects/team-a/services', site)).status).toBe(201);
  expect((await admin('POST', '/v1/projects/team-b/instances', inst('vault', { driver: 'process', command: ['sleep', '3600'] }))).status).toBe(201);
  for (const [p, n] of [['team-a', 'web'], ['team-a', 'box'], ['team-b', 'vault']]) await running(p!, n!);
}, 180_000);

afterAll(async () => {
  if (!why) await teardownTenants(server, admin, ['team-a', 'team-b'], dir);
}, 90_000);

describe.skipIf(why !== '')('stratus exec, cp, port-forward and completion', () => {
  it('exec runs a command in a process instance as its sandbox uid, with both streams, stdin and its exit code', async () => {
    const r = await asAlice(['exec', 'web', '--', 'sh', '-c', 'id -u; echo to-stderr >&2; exit 3']);
    expect(r.code, r.stderr).toBe(3);
    expect(Number(r.stdout.trim())).toBeGreaterThan(65535); // the project's uid, never root on the node
    expect(r.stderr).toBe('to-stderr\n');
    const piped = await asAlice(['exec', '-i', 'web', '--', 'tr', 'a-z', 'A-Z'], 'shout\n');
    expect(piped).toEqual({ code: 0, stdout: 'SHOUT\n', stderr: '' });
  });

  it('exec runs in a container as root of its user namespace, an unprivileged uid on the node', async () => {
    const r = await asAlice(['exec', 'box', '--', 'cat', '/proc/self/uid_map']);
    expect(r.code, r.stderr).toBe(0);
    const [inside, outside] = r.stdout.trim().split(/\s+/).map(Number);
    expect(inside).toBe(0);
    expect(outside).toBeGreaterThan(65535);
  });

  for (const name of ['web', 'box']) {
    it(`exec -it gives ${name} an interactive shell on a terminal: its size, ^C to the foreground job, the exit code`, async () => {
      // eslint-disable-next-line no-control-regex -- busybox's ash follows its prompt with escape sequences (ESC [6n, ESC [J)
      const prompt = /[$#] (?:\x1b\[[0-9;]*[A-Za-z])*$/;
      const r = await underTerminal(['exec', '-it', name, '--', 'sh'], [
        { after: prompt, send: 'tty; stty size\r' },
        // eslint-disable-next-line no-control-regex -- as above
        { after: /30 90\r*\n[\s\S]*[$#] (?:\x1b\[[0-9;]*[A-Za-z])*$/, send: "sh -c 'echo re''ady; sleep 1000'\r" },
        { after: /ready\r*\n/, send: '\x03' },
        { after: prompt, send: 'echo alive-$((40+2)); exit 4\r' },
      ]);
      expect(r.output).toMatch(/\/dev\/pts\/\d+/);
      expect(r.output).toContain('alive-42');
      expect(r.code, r.output).toBe(4);
    });
  }

  for (const name of ['web', 'box']) {
    it(`cp copies a directory into ${name} and back, and a file into a directory there`, async () => {
      const src = join(dir, `src-${name}`);
      mkdirSync(join(src, 'sub'), { recursive: true });
      writeFileSync(join(src, 'index.html'), 'copied\n');
      const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31) % 251));
      writeFileSync(join(src, 'sub', 'data.bin'), data);
      symlinkSync('index.html', join(src, 'link'));
      const up = await asAlice(['cp', src, `${name}:/tmp/site`]);
      expect(up.code, up.stderr).toBe(0);
      const look = await asAlice(['exec', name, '--', 'sh', '-c', 'cat /tmp/site/index.html; readlink /tmp/site/link; wc -c < /tmp/site/sub/data.bin']);
      expect(look.stdout.split('\n').map((l) => l.trim())).toEqual(['copied', 'index.html', '300000', '']);
      writeFileSync(join(dir, 'note.txt'), 'note\n');
      expect((await asAlice(['cp', join(dir, 'note.txt'), `${name}:/tmp/site`])).code).toBe(0);
      const back = join(dir, `back-${name}`);
      mkdirSync(back);
      const down = await asAlice(['cp', `${name}:/tmp/site`, back]);
      expect(down.code, down.stderr).toBe(0);
      expect(readFileSync(join(back, 'site', 'sub', 'data.bin'))).toEqual(data);
      expect(readlinkSync(join(back, 'site', 'link'))).toBe('index.html');
      expect(readFileSync(join(back, 'site', 'note.txt'), 'utf8')).toBe('note\n');
      const renamed = await asAlice(['cp', `${name}:/tmp/site/index.html`, join(back, 'renamed.html')]);
      expect(renamed.code, renamed.stderr).toBe(0);
      expect(readFileSync(join(back, 'renamed.html'), 'utf8')).toBe('copied\n');
    });
  }

  for (const target of ['web', 'service/site']) {
    it(`port-forward reaches the HTTP server of ${target}`, async () => {
      if (target.startsWith('service/')) {
        await until('a ready replica', () => admin('GET', '/v1/projects/team-a/instances?selector=stratus.io/service=site').then((r) => r.body.items), (items: { status?: { conditions?: { type: string; status: string }[] } }[]) =>
          items.some((i) => i.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')), 60_000);
      }
      const pf = background(['port-forward', target, ':8080'], aliceEnv());
      const port = Number((await pf.waitFor(/Forwarding from 127\.0\.0\.1:(\d+) -> 8080/))![1]);
      const want = target === 'web' ? 'hello-from-web' : 'hello-from-site';
      for (let i = 0; i < 2; i++) {
        const body = await until('an answer through the tunnel', () => fetch(`http://127.0.0.1:${port}/`).then((r) => r.text(), (e: Error) => e.message), (t) => t.includes(want), 30_000, pf.out);
        expect(body.trim()).toBe(want);
      }
      pf.proc.kill('SIGINT');
      expect(await pf.exited).toBe(0);
    });
  }

  it("a member of team-a cannot exec, cp or port-forward into team-b's instance; a viewer and a node credential cannot either", async () => {
    for (const args of [['exec', 'vault', '--', 'id'], ['cp', 'vault:/etc/hostname', dir], ['port-forward', 'vault', '8080']]) {
      const r = await asAlice(['-p', 'team-b', ...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/needs the (member|viewer) role in project "team-b".*STRATUS_ERR_FORBIDDEN/);
      expect(r.stdout).toBe('');
    }
    const base = `${server.url}/v1/projects/team-b/instances/vault`;
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
    expect((await wsAnswer(`${base}/exec?command=id`, bearer(aliceToken))).status).toBe(403);
    expect((await wsAnswer(`${base}/portforward?port=8080`, bearer(aliceToken))).status).toBe(403);
    const viewer = await asBob(['exec', 'web', '--', 'id']);
    expect(viewer.code).toBe(1);
    expect(viewer.stderr).toMatch(/needs the member role in project "team-a" to update instances \(STRATUS_ERR_FORBIDDEN\)/);
    const nodeToken = (JSON.parse(readFileSync(join(server.dataDir, 'agent', 'credential.json'), 'utf8')) as { token: string }).token;
    expect((await wsAnswer(`${server.url}/v1/projects/team-a/instances/web/exec?command=id`, bearer(nodeToken))).status).toBe(403);
    expect((await wsAnswer(`${base}/exec?command=id`, {})).status).toBe(401);
    const plain = await client(server.url, aliceToken)('GET', '/v1/projects/team-a/instances/web/exec?command=id');
    expect(plain.status).toBe(400);
    expect(plain.body.error.message).toMatch(/streams over a WebSocket/);
  });

  it("port-forward reaches only the instance's own ports, never the node's; the agent's endpoint takes only a fresh signature", async () => {
    const a = `${server.url}/v1/projects/team-a/instances/web/portforward`;
    const denied = await wsAnswer(`${a}?port=8080&host=127.0.0.1`, { authorization: `Bearer ${aliceToken}` });
    expect(denied.status).toBe(400);
    expect(denied.body).toMatch(/host/);
    const apiPort = new URL(server.url).port;
    const pf = background(['port-forward', 'web', `:${apiPort}`], aliceEnv());
    const port = Number((await pf.waitFor(/Forwarding from 127\.0\.0\.1:(\d+)/))![1]);
    const answer = await fetch(`http://127.0.0.1:${port}/v1/nodes`).then((r) => `HTTP ${r.status}`, (e: Error) => `no answer: ${e.message}`);
    expect(answer).toMatch(/^no answer/); // the API server's port on the node is not the instance's
    await pf.waitFor(new RegExp(`error: forwarding a connection to web:${apiPort}: .*(ECONNREFUSED|does not listen on port ${apiPort})`));
    pf.proc.kill('SIGINT');
    await pf.exited;
    // The agent: unsigned requests are refused, and a signed one is good once.
    const nodeObj = (await admin('GET', `/v1/nodes/${node}`)).body;
    const agent = nodeObj.status.addresses.find((x: { type: string }) => x.type === 'agent').address as string;
    const web = (await admin('GET', '/v1/projects/team-a/instances/web')).body;
    const path = `/v1/exec/team-a/web?command=true&uid=${web.metadata.uid}`;
    expect((await wsAnswer(agent + path, {})).status).toBe(401);
    const nodeToken = (JSON.parse(readFileSync(join(server.dataDir, 'agent', 'credential.json'), 'utf8')) as { token: string }).token;
    const signature = { [SIGNATURE_HEADER]: sign(hashToken(nodeToken), 'GET', path, Date.now()) };
    expect((await wsAnswer(agent + path, signature)).status).toBe(101);
    const replay = await wsAnswer(agent + path, signature);
    expect(replay.status).toBe(401);
    expect(replay.body).toMatch(/used already/);
  });

  it('audits each exec and port-forward with its argv or port, and the refused ones', async () => {
    const audit = async (project: string) => (await admin('GET', `/v1/audit?project=${project}&limit=1000`)).body.items as { actor: string; action: string; name: string; status: number; message?: string }[];
    const a = await audit('team-a');
    expect(a).toContainEqual(expect.objectContaining({ actor: 'user:alice', action: 'exec', name: 'web', status: 101, message: JSON.stringify(['sh', '-c', 'id -u; echo to-stderr >&2; exit 3']) }));
    expect(a).toContainEqual(expect.objectContaining({ actor: 'user:alice', action: 'exec', name: 'web', message: '["sh"] (tty)' }));
    expect(a).toContainEqual(expect.objectContaining({ actor: 'user:alice', action: 'port-forward', name: 'web', status: 101, message: 'port 8080' }));
    expect(a).toContainEqual(expect.objectContaining({ actor: 'user:bob', action: 'exec', name: 'web', status: 403 }));
    expect(a.filter((e) => e.action === 'exec').map((e) => e.message ?? '').join('\n')).not.toMatch(/SHOUT/); // argv, never output
    const b = await audit('team-b');
    expect(b).toContainEqual(expect.objectContaining({ actor: 'user:alice', action: 'exec', name: 'vault', status: 403 }));
    expect(b).toContainEqual(expect.objectContaining({ actor: 'user:alice', action: 'port-forward', name: 'vault', status: 403 }));
  });

  it('completion prints scripts that the shells parse, completing commands and instance names', async () => {
    const bash = await asAlice(['completion', 'bash']);
    expect(bash.code).toBe(0);
    writeFileSync(join(dir, 'c.bash'), bash.stdout);
    execFileSync('bash', ['-n', join(dir, 'c.bash')]);
    mkdirSync(join(dir, 'bin'), { recursive: true });
    writeFileSync(join(dir, 'bin', 'stratus'), `#!/bin/sh\nexec ${process.execPath} ${BIN} "$@"\n`);
    chmodSync(join(dir, 'bin', 'stratus'), 0o755);
    const complete = (words: string[]) => execFileSync('bash', ['-c', 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _stratus; printf "%s\\n" "${COMPREPLY[@]}"', 'bash', join(dir, 'c.bash'), ...words], {
      env: { ...process.env, ...aliceEnv(), PATH: `${join(dir, 'bin')}:${process.env.PATH}`, STRATUS_CONFIG: join(dir, 'alice.json') },
    }).toString().trim().split('\n');
    expect(complete(['stratus', 'ex'])).toEqual(['exec']);
    expect(complete(['stratus', 'service', 'sc'])).toEqual(['scale']);
    expect(complete(['stratus', 'get', 'inst'])).toEqual(['instances']);
    expect(complete(['stratus', 'port-forward', '--'])).toContain('--address');
    expect(complete(['stratus', 'exec', '-it', ''])).toEqual(expect.arrayContaining(['web', 'box']));
    for (const shell of ['zsh', 'fish'].filter(has)) {
      const r = await asAlice(['completion', shell]);
      writeFileSync(join(dir, `c.${shell}`), r.stdout);
      execFileSync(shell, ['-n', join(dir, `c.${shell}`)]);
    }
    const bad = await asAlice(['completion', 'tcsh']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown shell \(use one of: bash, zsh, fish\)/);
  });
});
