/**
 * The first hour of a new user, end to end with the real CLI against a real server (issue 12):
 * quantities that mean what they say, failures that say why, and the rough edges a kubectl or
 * OpenStack user trips over first.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { startTestServer, client, BIN, type TestServer } from './helpers/server.js';
import { cliRunner, type CliResult } from './helpers/cli.js';
import { agentForgotAll, freePort, startAgentProcess, until } from './helpers/processes.js';
import { networkInterfaces } from 'node:os';

/** Workloads run only as root (sandboxed processes); the other checks need no agent. */
const root = process.getuid?.() === 0;

let server: TestServer;
let api: ReturnType<typeof client>;
let run: (args: string[], input?: string) => Promise<CliResult>;
let dir: string;

function file(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
}

/** Every failure is exactly one line on stderr and a non-zero exit. */
function expectOneLineError(r: CliResult, pattern: RegExp): void {
  expect(r.code, r.stdout + r.stderr).not.toBe(0);
  expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr.trimEnd()).toMatch(pattern);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-first-hour-'));
  server = await startTestServer({ agent: root, args: root ? ['--node-name', `first-hour-${process.pid}`, '--network', 'host', '--capacity', 'cpu=16,memory=16Gi', '--restart-backoff', '200ms'] : [] });
  api = client(server.url, server.token);
  run = cliRunner(join(dir, 'cli.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token });
}, 60_000);

afterAll(async () => {
  if (root && server) {
    // Workloads outlive their agent: delete them and let the agent destroy them first.
    for (const plural of ['services', 'instances']) {
      for (const o of (await api('GET', `/v1/${plural}`)).body.items as { metadata: { name: string; project: string } }[]) {
        await api('DELETE', `/v1/projects/${o.metadata.project}/${plural}/${o.metadata.name}`);
      }
    }
    await agentForgotAll(join(server.dataDir, 'agent'));
  }
  await server?.stop();
  server?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('quantities', () => {
  it('reads cpu: 2 in a file as two cores, like "2", and prints quantities as strings that apply again unchanged', async () => {
    const applied = await run(['apply', '-f', file('q.yaml', 'kind: instance\nmetadata: {name: q}\nspec: {driver: process, command: [sleep, "60"], resources: {cpu: 2, memory: 64}}\n')]);
    expect(applied.code, applied.stderr).toBe(0);
    expect((await api('GET', '/v1/projects/default/instances/q')).body.spec.resources).toEqual({ cpu: 2000, memory: 64, disk: 0 });
    const json = JSON.parse((await run(['get', 'instance', 'q', '-o', 'json'])).stdout) as { spec: { resources: unknown } };
    expect(json.spec.resources).toEqual({ cpu: '2', memory: '64Mi', disk: '0Mi' });
    const yaml = await run(['get', 'instance', 'q', '-o', 'yaml']);
    expect(yaml.stdout).toMatch(/cpu: "2"/);
    expect((await run(['apply', '-f', '-'], yaml.stdout)).stdout).toBe('No changes.\n');
    expect((await run(['get', 'instances', '-o', 'yaml'], '')).stdout).toMatch(/memory: 64Mi/);
  });

  it('keeps 250m when a service is patched (scale) and rolled back: stored millicores are not read again as cores', async () => {
    const svc = (cmd: string) => `services:\n  keep:\n    replicas: 1\n    template: {driver: process, command: [sh, -c, "${cmd}"], resources: {cpu: 250m, memory: 1536}}\n`;
    expect((await run(['apply', '--no-wait', '-f', file('svc1.yaml', svc('sleep 100'))])).code).toBe(0);
    expect((await run(['service', 'scale', 'keep', '2'])).code).toBe(0);
    const cpu = async () => (await api('GET', '/v1/projects/default/services/keep')).body.spec.template.spec.resources;
    expect(await cpu()).toEqual({ cpu: 250, memory: 1536, disk: 0 });
    expect((await run(['apply', '--no-wait', '-f', file('svc2.yaml', svc('sleep 200'))])).code).toBe(0);
    await until('two revisions', async () => ((await api('GET', '/v1/projects/default/services/keep')).body.status?.history ?? []).length, (n) => n === 2);
    const back = await run(['service', 'rollback', 'keep', '--no-wait']);
    expect(back.code, back.stderr).toBe(0);
    expect(await cpu()).toEqual({ cpu: 250, memory: 1536, disk: 0 });
    expect((await api('GET', '/v1/projects/default/services/keep')).body.spec.template.spec.command).toEqual(['sh', '-c', 'sleep 100']);
  });

  it('gives quotas the same rule: --quota cpu=8 and a number 8 in a project file are both eight cores', async () => {
    expect((await run(['project', 'create', 'quota-a', '--quota', 'cpu=8,memory=2Gi,gpu=1'])).code).toBe(0);
    expect((await run(['apply', '-f', file('p.yaml', 'kind: project\nmetadata: {name: quota-b}\nspec: {quotas: {cpu: 8, memory: 2048, gpu: 1}}\n')])).code).toBe(0);
    const a = (await api('GET', '/v1/projects/quota-a')).body.spec.quotas;
    const b = (await api('GET', '/v1/projects/quota-b')).body.spec.quotas;
    expect(a).toEqual({ cpu: 8000, memory: 2048, gpu: 1000 });
    expect(b).toEqual(a);
  });

  it('describe project shows each quota as used / limit', async () => {
    expect((await run(['-p', 'quota-a', 'apply', '-f', file('qa.yaml', 'kind: instance\nmetadata: {name: qa}\nspec: {driver: process, command: [sleep, "60"], resources: {cpu: 250m, memory: 64Mi}}\n')])).code).toBe(0);
    const described = await until('the usage in describe project', () => run(['describe', 'project', 'quota-a']), (d) => d.stdout.includes('250m / 8'));
    expect(described.stdout).toMatch(/^ {2}cpu +250m \/ 8$/m);
    expect(described.stdout).toMatch(/^ {2}memory +64Mi \/ 2Gi$/m);
    expect(described.stdout).toMatch(/^ {2}instances +1 \/ unlimited$/m);
    expect((await api('GET', '/v1/projects/quota-a')).body.status.usage).toEqual({ cpu: 250, memory: 64, disk: 0, gpu: 0, instances: 1 });
  });
});

describe('failures say why', () => {
  it.runIf(root)('a rollout that never becomes healthy fails with what the health check found, as describe and events show it', async () => {
    const port = await freePort();
    const f = file('sick.yaml', `services:\n  sick:\n    replicas: 1\n    template: {driver: process, command: [sleep, "3600"], resources: {cpu: 10m, memory: 16Mi}, health: {http: {port: ${port}}, interval: 1, timeout: 1}}\n    update: {progressDeadline: 5}\n`);
    const r = await run(['apply', '-f', f, '--timeout', '60s']);
    const found = `health check failed: GET http://[0-9.]+:${port}/: connection refused`;
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^error: service/sick failed: revision 1 failed: only 0 of 1 replica of the new version became available within 5 s; sick-[a-z0-9]+: ${found}\n$`));
    const [replica] = (await api('GET', '/v1/projects/default/instances?selector=stratus.io%2Fservice%3Dsick')).body.items as { metadata: { name: string } }[];
    const described = await until('the Unhealthy event', () => run(['describe', 'instance', replica!.metadata.name]), (d) => /Unhealthy/.test(d.stdout));
    expect(described.stdout).toMatch(new RegExp(`Ready: +False \\(HealthCheckFailed\\): ${found}`));
    expect(described.stdout).toMatch(new RegExp(`Warning +Unhealthy +${found}`));
    expect((await run(['delete', 'service', 'sick'])).code).toBe(0);
  }, 90_000);
});

describe('logs from an agent on another machine', () => {
  /** An address of this machine that is not loopback, standing for "another machine's" view of the server. */
  const local = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

  it.runIf(root && local)('a stratus agent set up as documented advertises the address of its route to the server, and logs work', async () => {
    const remote = await startTestServer({ args: ['--listen', '0.0.0.0'] });
    const agentDir = mkdtempSync(join(tmpdir(), 'stratus-first-hour-agent-'));
    const url = remote.url.replace('127.0.0.1', local!);
    const cli = cliRunner(join(dir, 'remote.json'), { STRATUS_SERVER: url, STRATUS_TOKEN: remote.token });
    try {
      const joinToken = (await cli(['node', 'join-token', 'create'])).stdout.trim();
      const agent = await startAgentProcess(url, joinToken, agentDir, 'remote-1');
      const remoteApi = client(remote.url, remote.token);
      const node = await until('the agent reports its address', async () => (await remoteApi('GET', '/v1/nodes/remote-1')).body, (n) => Boolean(n.status?.addresses?.length));
      const address = (node.status.addresses as { type: string; address: string }[]).find((a) => a.type === 'agent')!.address;
      expect(address).toMatch(new RegExp(`^http://${local!.replace(/\./g, '\\.')}:\\d+$`)); // not 127.0.0.1
      expect((await cli(['apply', '-f', file('hello.yaml', 'kind: instance\nmetadata: {name: hello}\nspec: {driver: process, command: [sh, -c, "echo hello from remote-1; sleep 3600"]}\n')])).code).toBe(0);
      const logs = await until('logs', () => cli(['logs', 'hello']), (r) => r.stdout.includes('hello from remote-1'));
      expect(logs.code).toBe(0);
      await agent.stop();
      expectOneLineError(await cli(['logs', 'hello']), new RegExp(`cannot reach the agent of node "remote-1" at ${address.replace(/[.]/g, '\\.')}: .*STRATUS_ERR_UNAVAILABLE`));
      // Back, to stop its workload before it goes.
      const again = await startAgentProcess(url, joinToken, agentDir, 'remote-1');
      expect((await cli(['delete', 'instance', 'hello'])).code).toBe(0);
      await agentForgotAll(agentDir);
      await again.stop();
    } finally {
      await remote.stop();
      remote.cleanup();
      rmSync(agentDir, { recursive: true, force: true });
    }
  }, 90_000);
});

describe('images', () => {
  it('image import takes a root filesystem only, and an image in use cannot be deleted', async () => {
    const notes = file('notes.txt', 'not an image\n');
    expectOneLineError(await run(['image', 'import', 'tiny', notes]), new RegExp(`^error: ${notes} is not a tar archive \\(nor a gzip-compressed one\\): an image is a root filesystem`));
    expect((await api('GET', '/v1/projects/default/images/tiny')).status).toBe(404); // nothing was created
    const rootfs = join(dir, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    writeFileSync(join(rootfs, 'bin', 'hello'), '#!/bin/sh\necho hello\n');
    const imported = await run(['image', 'import', 'tiny', rootfs]);
    expect(imported.code, imported.stderr).toBe(0);
    // The server checks too: an upload that is not an archive is refused, naming the problem.
    const raw = await api('PUT', '/v1/projects/default/images/tiny/content', 'plain text, not a tar', { 'content-type': 'application/x-tar' });
    expect(raw.status).toBe(400);
    expect(raw.body.error.message).toMatch(/^the upload is not a tar archive/);
    expect((await run(['apply', '-f', file('uses-tiny.yaml', 'name: tiny-stack\nservices:\n  box: {replicas: 0, template: {driver: container, image: tiny}}\n')])).code).toBe(0);
    expectOneLineError(await run(['delete', 'image', 'tiny']), /^error: image\/tiny: image "tiny" of project "default" is used by service box \(stack tiny-stack\); delete them first \(STRATUS_ERR_DEPENDENCY\)$/);
    expect((await run(['stack', 'rm', 'tiny-stack'])).code).toBe(0);
    await until('service box deleted', async () => (await api('GET', '/v1/projects/default/services/box')).status, (s) => s === 404);
    expect((await run(['delete', 'image', 'tiny'])).stdout).toBe('image/tiny deleted\n');
  });
});

describe('stack parameters', () => {
  it('--set with a name the file does not declare lists the declared ones; ${param} works inside a flow map', async () => {
    const f = file('params.yaml', 'parameters: {replicas: 0, cpu: 250m}\nservices:\n  flow: {replicas: ${replicas}, template: {driver: process, command: [sleep, "60"], resources: {cpu: ${cpu}}}}\n');
    expectOneLineError(await run(['plan', '-f', f, '--set', 'colour=red']), new RegExp(`^error: --set colour: ${f} declares no such parameter \\(declared: cpu, replicas\\)$`));
    const plan = await run(['plan', '-f', f, '--set', 'cpu=1']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/\+ service\/flow \(create\)/);
    expect((await run(['apply', '-f', f, '--set', 'cpu=1'])).code).toBe(0);
    expect((await api('GET', '/v1/projects/default/services/flow')).body.spec.template.spec.resources.cpu).toBe(1000);
  });
});

describe('one-line errors and logins', () => {
  it('--server notaurl is one line naming where it came from', async () => {
    expectOneLineError(await run(['--server', 'notaurl', 'get', 'nodes']), /^error: --server: "notaurl" is not a server URL \(use e.g. http:\/\/127.0.0.1:7070\)$/);
    const env = cliRunner(join(dir, 'env.json'), { STRATUS_SERVER: 'ftp://x', STRATUS_TOKEN: server.token });
    expectOneLineError(await env(['get', 'nodes']), /^error: STRATUS_SERVER: "ftp:\/\/x" is not a server URL/);
    expectOneLineError(await env(['login']), /^error: STRATUS_SERVER: "ftp:\/\/x" is not a server URL/);
  });

  it('sim replay --nodes /nonexistent names the flag and the file', async () => {
    const tasks = file('tasks.csv', 'name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n');
    expectOneLineError(await run(['sim', 'replay', '--nodes', '/nonexistent', '--tasks', tasks]), /^error: --nodes \/nonexistent: no such file$/);
    expectOneLineError(await run(['sim', 'replay', '--nodes', tasks, '--tasks', dir]), new RegExp(`^error: --tasks ${dir}: not a file \\(give a CSV file\\)$`));
  });

  it('get -w | head: a reader that goes away ends the watch quietly', async () => {
    const instance = (n: string) => file(`${n}.yaml`, `kind: instance\nmetadata: {name: ${n}}\nspec: {driver: process, command: [sleep, "1"], restartPolicy: never}\n`);
    expect((await run(['project', 'create', 'pipe'])).code).toBe(0);
    expect((await run(['-p', 'pipe', 'apply', '-f', instance('p1')])).code).toBe(0);
    const proc = spawn(process.execPath, [BIN, 'get', 'instances', '-w'], { env: { ...process.env, STRATUS_CONFIG: join(dir, 'none.json'), STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token, STRATUS_PROJECT: 'pipe' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    await new Promise((r) => proc.stdout.once('data', r)); // the table: the watch follows
    proc.stdout.destroy(); // as `head` does once it has its lines
    expect((await run(['-p', 'pipe', 'apply', '-f', instance('p2')])).code).toBe(0); // a change to print
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
  });

  it('login with a token of one project selects that project, and whoami shows it', async () => {
    expect((await run(['project', 'create', 'solo'])).code).toBe(0);
    const secret = (await run(['-p', 'solo', 'token', 'create', '--role', 'member', '--name', 'solo-ci'])).stdout.trim();
    const member = cliRunner(join(dir, 'solo.json'));
    const login = await member(['login', '--server', server.url, '--token', secret]);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toMatch(/^logged in to \S+ as token:solo-ci in project "solo" \(the only one it may use\); saved as context/);
    expect((await member(['whoami'])).stdout).toMatch(/^project: solo$/m);
    expect((await member(['get', 'instances'])).stderr).toBe('No instances found in project "solo".\n');
  });

  it('a project that does not exist is a 404, not an empty list', async () => {
    expectOneLineError(await run(['-p', 'nope', 'get', 'instances']), /^error: project "nope" not found \(STRATUS_ERR_NOT_FOUND\)$/);
    expectOneLineError(await run(['-p', 'nope', 'get', 'services', '-w']), /^error: project "nope" not found/);
    expect((await api('GET', '/v1/projects/nope/instances')).status).toBe(404);
    expect((await api('GET', '/v1/projects/default/instances?selector=app%3Dnone')).status).toBe(200); // an empty list of a project that exists
  });
});

describe('node drain', () => {
  it.runIf(root)('moves a service a replica at a time, gives up at --timeout saying what is left, and --force finishes it: Drained', async () => {
    const node = `first-hour-${process.pid}`;
    expect((await run(['apply', '--timeout', '60s', '-f', file('drainme.yaml', 'services:\n  drainme:\n    replicas: 2\n    template: {driver: process, command: [sleep, "3600"], resources: {cpu: 10m, memory: 16Mi}}\n')])).code).toBe(0);
    // One node only: a moved replica has nowhere to go, so the budget (2 replicas, at most 1 unavailable) holds the other.
    const slow = await run(['node', 'drain', node, '--timeout', '3s']);
    expect(slow.code).toBe(1);
    expect(slow.stderr.trimEnd().split('\n').at(-1)).toMatch(new RegExp(`^error: node/${node} is not drained after 3s: \\d+ instances? left: .*default/drainme-.*stratus node drain ${node} --force\\)$`));
    expect((await run(['get', 'nodes'])).stdout).toMatch(new RegExp(`^${node} +Ready,Draining `, 'm'));
    expect((await run(['describe', 'node', node])).stdout).toMatch(/DrainWaiting +service drainme: 1 of 2 replicas available and at most 1 may be unavailable/);
    const forced = await run(['node', 'drain', node, '--force', '--timeout', '60s']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toBe(`node/${node} cordoned; draining (forced: everything stops now)\nnode/${node} drained\n`);
    expect((await run(['get', 'nodes'])).stdout).toMatch(new RegExp(`^${node} +Ready,Drained `, 'm'));
    expect((await run(['node', 'uncordon', node])).code).toBe(0);
    expect((await run(['get', 'nodes'])).stdout).toMatch(new RegExp(`^${node} +Ready `, 'm'));
    expect((await run(['delete', 'service', 'drainme'])).code).toBe(0);
  }, 120_000);
});

describe('README and CLI agree', () => {
  it('stack ls fills STATUS and APPLIED; get services shows the address; get events is oldest first', async () => {
    expect((await run(['apply', '-f', file('shelf.yaml', 'name: shelf\nservices:\n  shelf: {replicas: 0, template: {driver: process, command: [sleep, "60"]}}\n')])).code).toBe(0);
    const ls = await until('the stack Applied', () => run(['stack', 'ls']), (r) => /Applied/.test(r.stdout));
    expect(ls.stdout.split('\n')[0]).toMatch(/^NAME +OBJECTS +SOURCE +STATUS +APPLIED +AGE$/);
    expect(ls.stdout).toMatch(/^shelf +1 +\S+shelf\.yaml +Applied +\d+s +\d+s$/m);
    expect((await run(['get', 'services'])).stdout.split('\n')[0]).toMatch(/^NAME +READY +UP-TO-DATE +AVAILABLE +REVISION +STATUS +ADDRESS +AGE$/);
    // Two instances that cannot be placed, the later one first in name order: their events come by time.
    expect((await run(['project', 'create', 'order'])).code).toBe(0);
    for (const n of ['zz-first', 'aa-second']) {
      expect((await run(['-p', 'order', 'apply', '-f', file(`${n}.yaml`, `kind: instance\nmetadata: {name: ${n}}\nspec: {driver: process, command: [sleep, "1"], resources: {cpu: 1000}}\n`)])).code).toBe(0);
      await until('the events', async () => (await api('GET', '/v1/projects/order/events')).body.items.length, (k) => k >= (n === 'zz-first' ? 1 : 2));
    }
    for (const args of [['-p', 'order', 'get', 'events'], ['get', 'events', '-A']]) {
      const events = JSON.parse((await run([...args, '-o', 'json'])).stdout) as { items: { spec: { lastTime?: string }; metadata: { createdAt: string } }[] };
      const times = events.items.map((e) => e.spec.lastTime ?? e.metadata.createdAt);
      expect(times.length).toBeGreaterThanOrEqual(2);
      expect(times).toEqual([...times].sort());
    }
  });
});

describe('wording', () => {
  it('says 1 object, names the file, line and field, checks names before they go into a URL, and lists one project\'s tokens', async () => {
    expect((await run(['project', 'create', 'words'])).code).toBe(0);
    const w = (args: string[]) => run(['-p', 'words', ...args]);
    expect((await w(['apply', '-f', file('one.yaml', 'name: one\nservices:\n  solo: {replicas: 0, template: {driver: process, command: [x]}}\n')])).code).toBe(0);
    expect((await w(['stack', 'rm', 'one'])).stdout).toBe('stack/one deleted; its object is being removed\n');
    const bad = file('bad-fields.yaml', 'services:\n  web:\n    replicas: -1\n    template: {driver: process, command: [x], resources: {memory: 12Qi}}\n');
    const r = await w(['apply', '-f', bad]);
    expect(r.stderr).toContain(`${bad}:3: services.web.replicas: -1 is less than the minimum 0`);
    expect(r.stderr).toContain(`${bad}:4: services.web.template.resources.memory: "12Qi" is not a size`);
    expect(r.stderr).not.toMatch(/spec\.template|params\./);
    expectOneLineError(await w(['get', 'instance', 'Bad_Name']), /^error: instance name: "Bad_Name" is not a DNS label/);
    expectOneLineError(await run(['-p', 'No_Such', 'get', 'instances']), /^error: project name: "No_Such" is not a DNS label/);
    expect((await w(['token', 'create', '--role', 'viewer', '--name', 'words-viewer'])).code).toBe(0);
    const mine = await w(['token', 'ls']);
    expect(mine.stdout).toMatch(/^words-viewer /m);
    expect(mine.stdout).not.toMatch(/^admin /m); // the admin's token has no role in "words"
    // The audit names the token that acted, and a stack's first apply is no failed "update".
    const audit = await run(['audit', '--kind', 'token', '--limit', '200']);
    expect(audit.stdout.split('\n')[0]).toMatch(/^TIME +ACTOR +TOKEN +ACTION +OBJECT +STATUS +CODE$/);
    expect(audit.stdout).toMatch(/user:admin +admin +create +token\/words-viewer +201/);
    expect((await w(['audit', '--failed', '--limit', '200'])).stdout).not.toMatch(/update +stack\//);
  });
});

describe('npm start on a machine without the host packages', () => {
  it.runIf(root)('says in its ready banner what is missing and the one command that adds it', async () => {
    // nft and ip live in /usr/sbin on Debian: without it on PATH, the agent finds no nftables.
    const bare = await startTestServer({ agent: true, env: { PATH: '/usr/local/bin:/usr/bin:/bin' }, args: ['--node-name', `bare-${process.pid}`] });
    try {
      expect(bare.output()).toMatch(/^ {2}missing: {3}per-project networks: .*not installed$/m);
      expect(bare.output()).toMatch(/^ {13}add them with: sudo scripts\/install-deps\.sh$/m);
    } finally {
      await bare.stop();
      bare.cleanup();
    }
  }, 60_000);
});

describe('service restart and rollback follow the rollout', () => {
  it.runIf(root)('restart waits until the new replicas are available; a rollback that fails exits non-zero saying why', async () => {
    const svc = (cmd: string) => file('follow.yaml', `services:\n  follow:\n    replicas: 2\n    template: {driver: process, command: [sh, -c, "${cmd}"], resources: {cpu: 10m, memory: 16Mi}, health: {command: ["true"], interval: 1, timeout: 1}}\n    update: {progressDeadline: 30}\n`);
    expect((await run(['apply', '-f', svc('exit 3'), '--timeout', '60s'])).code).toBe(1); // revision 1 crashes
    expect((await run(['apply', '-f', svc('exec sleep 3600'), '--timeout', '60s'])).code).toBe(0); // revision 2 runs
    const restart = await run(['service', 'restart', 'follow', '--timeout', '60s']);
    expect(restart.code, restart.stderr).toBe(0);
    expect(restart.stdout).toMatch(/^service\/follow restarting its replicas\n/);
    expect(restart.stdout).toMatch(/available: 2\/2 ready \(revision 3\)\n$/);
    const back = await run(['service', 'rollback', 'follow', '--to', '1', '--timeout', '60s']);
    expect(back.code).toBe(1);
    expect(back.stderr).toMatch(/^error: service\/follow failed: rolled back: revision 1 replica follow-\S+ restarted 3 times/);
    expect((await run(['delete', 'service', 'follow'])).code).toBe(0);
  }, 180_000);
});
