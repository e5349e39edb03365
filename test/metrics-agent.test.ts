/**
 * A standalone `stratus agent` serves /metrics on its listener only with --metrics-token-file, and
 * only to that secret; without the flag the route does not exist. A token file too short to be a
 * secret is refused at start with one line naming the file.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/server/main.js';
import { client, BIN } from './helpers/server.js';
import { startAgentProcess, until, type AgentProcess } from './helpers/processes.js';

const TOKEN = 'metrics-agent-test-admin-token-0123';
const SECRET = 'metrics-agent-test-scrape-secret-0123';
let server: RunningServer;
let dir: string;
const agents: AgentProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-metrics-agent-'));
  writeFileSync(join(dir, 'token'), SECRET, { mode: 0o600 });
  server = await startServer({ dataDir: join(dir, 'server'), port: 0, listen: '127.0.0.1', store: 'memory:', bootstrapToken: TOKEN });
});

afterAll(async () => {
  for (const a of agents) await a.stop();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The agent's listener, as its node's status gives it. */
async function agentUrl(node: string): Promise<string> {
  const admin = client(server.url, TOKEN);
  const n = await until(`node ${node} reports its address`, () => admin('GET', `/v1/nodes/${node}`), (r) => r.status === 200 && Boolean(r.body.status?.addresses), 20_000);
  return (n.body.status.addresses as { type: string; address: string }[]).find((a) => a.type === 'agent')!.address;
}

async function joinToken(): Promise<string> {
  return (await client(server.url, TOKEN)('POST', '/v1/join-tokens', {})).body.secret as string;
}

describe('stratus agent /metrics', () => {
  it('with --metrics-token-file: served to the secret (its heartbeats counted), 401 to anything else', async () => {
    agents.push(await startAgentProcess(server.url, await joinToken(), join(dir, 'a1'), 'a1', ['--metrics-token-file', join(dir, 'token'), '--heartbeat', '200ms']));
    const url = await agentUrl('a1');
    const text = await until('a heartbeat is counted', async () => (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${SECRET}` } })).text(), (t) => /^stratus_agent_heartbeats_total\{result="ok"\} [1-9]/m.test(t), 20_000);
    expect(text).toContain('# TYPE stratus_agent_runners gauge');
    expect(text).toContain('process_cpu_seconds_total'); // its own process, standalone
    for (const headers of [{}, { authorization: `Bearer ${TOKEN}` }] as Record<string, string>[]) {
      const res = await fetch(`${url}/metrics`, { headers });
      expect(res.status).toBe(401);
    }
  });

  it('without it: no /metrics route (404)', async () => {
    agents.push(await startAgentProcess(server.url, await joinToken(), join(dir, 'a2'), 'a2'));
    const res = await fetch(`${await agentUrl('a2')}/metrics`, { headers: { authorization: `Bearer ${SECRET}` } });
    expect(res.status).toBe(404);
  });

  it('refuses a token file too short to be a secret, naming it', () => {
    writeFileSync(join(dir, 'short'), 'abc\n');
    const r = spawnSync(process.execPath, [BIN, '--server', server.url, 'agent', '--join-token', 'x', '--data-dir', join(dir, 'a3'), '--metrics-token-file', join(dir, 'short')], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`error: --metrics-token-file ${join(dir, 'short')}: the token must be at least 16 characters (it has 3)`);
  });
});
