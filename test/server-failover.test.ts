/**
 * Clients and agents with several server URLs (issue 15): the CLI skips a dead server, names
 * every server when none answers, and never sends a write again after a reset; an agent whose
 * server is SIGKILLed keeps its workloads and goes on with the next server of its list.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, client, instance, type TestServer } from './helpers/server.js';
import { cliRunner } from './helpers/cli.js';
import { agentForgotAll, freePort, startAgentProcess, until } from './helpers/processes.js';
import { fakeServer, refusingUrl, resetMidRequest, type FakeServer } from '../src/client/failover-testing.js';

const root = process.getuid?.() === 0;

function expectOneLineError(r: { code: number; stderr: string }, pattern: RegExp) {
  expect(r.code).toBe(1);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr.trimEnd()).toMatch(pattern);
}

const quoted = (s: string) => s.replace(/[.]/g, '\\.');

describe('the CLI with several servers', () => {
  let server: TestServer;
  let dir: string;
  let run: ReturnType<typeof cliRunner>;
  let reset: FakeServer;

  beforeAll(async () => {
    server = await startTestServer();
    reset = await fakeServer(resetMidRequest);
    dir = mkdtempSync(join(tmpdir(), 'stratus-failover-'));
    run = cliRunner(join(dir, 'config.json'));
  });

  afterAll(async () => {
    await reset.close();
    await server.stop();
    server.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs in and works through a context whose first server is dead', async () => {
    const dead = await refusingUrl();
    const login = await run(['login', '--server', `${dead},${server.url}`, '--token', server.token, '--name', 'ha']);
    expect(login.stderr).toBe('');
    expect(login.stdout).toContain(`logged in to ${server.url} (of ${dead}, ${server.url}) as user:admin`);
    const saved = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { contexts: Record<string, { server: unknown }> };
    expect(saved.contexts.ha!.server).toEqual([dead, server.url]);
    expect(await run(['get', 'nodes'])).toMatchObject({ code: 0, stderr: 'No nodes found.\n' });
    expect((await run(['project', 'create', 'shop'])).code).toBe(0);
    expect((await run(['context', 'ls'])).stdout).toContain(`${dead},${server.url}`);
  });

  it('names every server in one line when none answers', async () => {
    const [a, b] = [await refusingUrl(), await refusingUrl()];
    const r = await run(['--server', `${a},${b}`, '--token', server.token, 'get', 'nodes']);
    expectOneLineError(r, new RegExp(`^error: cannot reach the servers at ${quoted(a)} \\(connection refused\\), ${quoted(b)} \\(connection refused\\)`));
    expect((await run(['--server', `${a},ftp://x`, 'get', 'nodes'])).stderr).toBe('error: --server: "ftp://x" is not a server URL (use e.g. http://127.0.0.1:7070)\n');
  });

  it('reads through a server that resets, but never sends a write again after a reset', async () => {
    const both = ['--server', `${reset.url},${server.url}`, '--token', server.token];
    expect((await run([...both, 'get', 'nodes'])).code).toBe(0);
    const write = await run([...both, 'project', 'create', 'after-reset']);
    expectOneLineError(write, new RegExp(`^error: cannot reach the server at ${quoted(reset.url)}: .*the request may have been applied$`));
    expect(reset.hits).toEqual(['GET /v1/nodes?limit=1000', 'POST /v1/projects']);
    expect((await client(server.url, server.token)('GET', '/v1/projects/after-reset')).status).toBe(404);
  });
});

interface Inst { metadata: { name: string }; status?: { phase: string; node?: string; pid?: number; restarts?: number } }

describe.skipIf(!root)('an agent with several servers', () => {
  it('keeps its workloads when its server is SIGKILLed and goes on with the next server of its list', async () => {
    const work = mkdtempSync(join(tmpdir(), 'stratus-failover-agent-'));
    const [p1, p2] = [await freePort(), await freePort()];
    const urls = [`http://127.0.0.1:${p1}`, `http://127.0.0.1:${p2}`];
    let server = await startTestServer({ args: ['--port', String(p1)] });
    const api = () => client(server.url, server.token);
    const joinToken = (await api()('POST', '/v1/join-tokens', {})).body.secret as string;
    const agent = await startAgentProcess(urls.join(','), joinToken, join(work, 'agent'), 'n1', ['--heartbeat', '500ms']);
    const runningOf = (name: string) => until(`${name} running`, async () => (await api()('GET', `/v1/projects/default/instances/${name}`)).body as Inst,
      (i) => i.status?.phase === 'Running' && !!i.status.pid, 60_000, agent.out);
    try {
      expect((await api()('POST', '/v1/projects/default/instances', instance('w1'))).status).toBe(201);
      const before = await runningOf('w1');
      // The first server dies; the same store comes back behind the second URL.
      await server.kill();
      server = await startTestServer({ dataDir: server.dataDir, args: ['--port', String(p2)] });
      expect(server.url).toBe(urls[1]);
      // The agent's watch goes on with the second server: it starts what is bound after the switch.
      expect((await api()('POST', '/v1/projects/default/instances', instance('w2'))).status).toBe(201);
      await runningOf('w2');
      const after = await runningOf('w1');
      expect(after.status).toMatchObject({ pid: before.status!.pid, node: 'n1', restarts: before.status!.restarts ?? 0 });
      const node = (await api()('GET', '/v1/nodes/n1')).body as { status: { lastHeartbeat: string } };
      const beat = Date.parse(node.status.lastHeartbeat);
      await until('a heartbeat through the second server', async () => Date.parse(((await api()('GET', '/v1/nodes/n1')).body as typeof node).status.lastHeartbeat), (t) => t > beat, 30_000);
      expect(agent.out()).toContain(`now talking to ${urls[1]}`);
    } finally {
      await Promise.all(['w1', 'w2'].map((n) => api()('DELETE', `/v1/projects/default/instances/${n}`)))
        .then(() => agentForgotAll(join(work, 'agent'))).catch((e: Error) => console.error(`cleanup: ${e.message}`));
      await agent.stop();
      await server.stop();
      server.cleanup();
      rmSync(work, { recursive: true, force: true });
    }
  });
});
