/**
 * Nodes across control-plane trouble: a restart after an outage longer than the node timeout
 * (healthy nodes get a grace period, dead ones still go Down), and deleting a node that runs
 * instances (drain or --force; its agent registers it again; later restarts work).
 */
import { describe, it, expect } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, client, instance, type TestServer } from './helpers/server.js';
import { cliRunner } from './helpers/cli.js';
import { agentForgotAll, freePort, sleep, startAgentProcess, until } from './helpers/processes.js';

const root = process.getuid?.() === 0;

interface Inst { metadata: { name: string; uid: string }; status?: { phase: string; node?: string; pid?: number; restarts?: number } }

async function running(api: ReturnType<typeof client>, project: string, names: string[]): Promise<Inst[]> {
  return until(`${names.join(', ')} running`, async () => (await api('GET', `/v1/projects/${project}/instances`)).body.items as Inst[],
    (items) => names.every((n) => items.some((i) => i.metadata.name === n && i.status?.phase === 'Running' && i.status.pid)), 60_000);
}

const NODE_TIMEOUT = '6s';

describe.skipIf(!root)('node recovery', () => {
  it('gives healthy nodes a grace period after a restart that outlasted the node timeout; a dead node still goes Down', async () => {
    const work = mkdtempSync(join(tmpdir(), 'stratus-grace-'));
    const port = await freePort();
    const args = ['--port', String(port), '--node-timeout', NODE_TIMEOUT];
    let server: TestServer = await startTestServer({ args });
    const api = () => client(server.url, server.token);
    const join1 = (await api()('POST', '/v1/join-tokens', {})).body.secret as string;
    const agent = await startAgentProcess(server.url, join1, join(work, 'live'), 'live', ['--heartbeat', '1s']);
    try {
      for (const name of ['w1', 'w2']) expect((await api()('POST', '/v1/projects/default/instances', instance(name))).status).toBe(201);
      const before = await running(api(), 'default', ['w1', 'w2']);
      // A node whose machine is gone: it reported once, right before the outage.
      const dead = (await client(server.url, join1)('POST', '/v1/nodes/join', { name: 'dead' })).body.secret as string;
      expect((await client(server.url, dead)('PUT', '/v1/nodes/dead/status', { phase: 'Ready', lastHeartbeat: new Date().toISOString() })).status).toBe(200);

      // The outage: the control plane dies and is down longer than the node timeout. The agent is
      // paused through the restart, so that its first report comes after the controller's first passes.
      agent.proc.kill('SIGSTOP');
      await server.kill();
      await sleep(8_000);
      server = await startTestServer({ dataDir: server.dataDir, args });
      await sleep(2_500);
      agent.proc.kill('SIGCONT');

      const deadNode = await until('the dead node goes Down', async () => (await api()('GET', '/v1/nodes/dead')).body, (n) => n.status?.phase === 'Down', 30_000);
      expect(deadNode.status.message).toMatch(/^no heartbeat for \d+ s \(timeout 6 s\)$/);
      expect((await api()('GET', '/v1/nodes/live')).body.status).toMatchObject({ phase: 'Ready', conditions: expect.arrayContaining([expect.objectContaining({ type: 'Ready', status: 'True' })]) });
      const after = (await api()('GET', '/v1/projects/default/instances')).body.items as Inst[];
      const shape = (items: Inst[]) => items.map((i) => ({ name: i.metadata.name, uid: i.metadata.uid, phase: i.status?.phase, node: i.status?.node, pid: i.status?.pid, restarts: i.status?.restarts ?? 0 }));
      expect(shape(after)).toEqual(shape(before));
      const events = (await api()('GET', '/v1/projects/default/events')).body.items as { spec: { reason: string } }[];
      expect(events.filter((e) => e.spec.reason === 'NodeLost')).toEqual([]);
    } finally {
      // Best effort: a failure above must not be hidden by one here.
      await Promise.all(['w1', 'w2'].map((n) => api()('DELETE', `/v1/projects/default/instances/${n}`)))
        .then(() => agentForgotAll(join(work, 'live'))).catch((e: Error) => console.error(`cleanup: ${e.message}`));
      await agent.stop();
      await server.stop();
      server.cleanup();
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('deletes a node with instances only with --force; its agent registers it again and the server restarts fine', async () => {
    const agentArgs = ['--node-name', 'self', '--drivers', 'process', '--network', 'host', '--capacity', 'cpu=2,memory=2Gi'];
    let server = await startTestServer({ agent: true, args: agentArgs });
    const api = () => client(server.url, server.token);
    const config = join(server.dataDir, '..', `cli-${process.pid}.json`);
    const cli = cliRunner(config, { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token });
    try {
      expect((statSync(join(server.dataDir, 'agent')).mode & 0o777).toString(8)).toBe('700');
      expect((await api()('POST', '/v1/projects/default/instances', instance('web'))).status).toBe(201);
      const [web] = await running(api(), 'default', ['web']);

      const refused = await cli(['node', 'delete', 'self']);
      expect(refused.code).toBe(1);
      expect(refused.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^error: node "self" still has 1 instance \(default\/web\); drain it first \(stratus node drain self\).* or delete with --force .*\(STRATUS_ERR_DEPENDENCY\)$/)]);
      const raw = await api()('DELETE', '/v1/nodes/self');
      expect(raw.status).toBe(422);
      expect(raw.body.error).toMatchObject({ code: 'STRATUS_ERR_DEPENDENCY', details: { node: 'self', instances: 1 } });
      expect((await api()('DELETE', '/v1/projects/default/instances/web?force=true')).status).toBe(400);

      const forced = await cli(['node', 'delete', 'self', '--force']);
      expect(forced, forced.stderr).toMatchObject({ code: 0, stdout: 'node/self deleted (its instances, if any, are released)\n' });
      // The agent registers its node again; the released instance is placed again and runs.
      await until('the node is back', async () => (await api()('GET', '/v1/nodes/self')).body, (n) => n.status?.phase === 'Ready', 30_000);
      await until('web runs again', async () => (await api()('GET', '/v1/projects/default/instances/web')).body as Inst,
        (i) => i.status?.phase === 'Running' && i.status.pid !== undefined && i.status.pid !== web!.status!.pid, 60_000);
      expect(server.output()).toContain('node self was deleted; registered it again');

      await server.stop();
      server = await startTestServer({ dataDir: server.dataDir, agent: true, args: agentArgs });
      await until('the node reports after the restart', async () => (await api()('GET', '/v1/nodes/self')).body, (n) => n.status?.phase === 'Ready'
        && Date.parse(n.status.lastHeartbeat) > Date.now() - 5_000, 30_000);
      await running(api(), 'default', ['web']);
    } finally {
      // Best effort: a failure above must not be hidden by one here.
      await api()('DELETE', '/v1/projects/default/instances/web').then(() => agentForgotAll(join(server.dataDir, 'agent'))).catch((e: Error) => console.error(`cleanup: ${e.message}`));
      await server.stop();
      server.cleanup();
      rmSync(config, { force: true });
    }
  });
});
