/**
 * Services and stacks on a real server with its embedded agent: rolling updates that keep enough
 * replicas healthy, automatic rollback, prune, idempotent plan/apply, replacement of killed
 * replicas, and files that fail validation applying nothing.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, client, type TestServer } from './helpers/server.js';
import { cliRunner, type CliResult } from './helpers/cli.js';

const root = process.getuid?.() === 0;
let server: TestServer;
let api: ReturnType<typeof client>;
let run: (args: string[]) => Promise<CliResult>;
let dir: string;

type Inst = { metadata: { name: string; uid: string; labels?: Record<string, string> }; status?: { phase: string; pid?: number; restarts?: number; conditions?: { type: string; status: string }[] } };

const replicas = async (svc: string): Promise<Inst[]> => (await api('GET', `/v1/projects/default/instances?selector=stratus.io%2Fservice%3D${svc}`)).body.items;
const ready = (i: Inst): boolean => Boolean(i.status?.phase === 'Running' && i.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && !i.status.conditions?.some((c) => c.type === 'Draining' && c.status === 'True'));

function stack(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}

const service = (cmd: string, extra = '') => `
name: app
services:
  web:
    replicas: 4
    template:
      driver: process
      command: [sh, -c, "${cmd}"]
      resources: {cpu: 10m, memory: 16Mi}
      health: {command: ["true"], interval: 1, timeout: 1}
    update: {maxSurge: 1, maxUnavailable: 1, progressDeadline: 60}
${extra}`;

async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`condition not met: ${JSON.stringify(v).slice(0, 600)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  if (!root) return;
  dir = mkdtempSync(join(tmpdir(), 'stratus-services-'));
  server = await startTestServer({ agent: true, args: ['--node-name', `svc-${process.pid}`, '--network', 'host', '--capacity', 'cpu=16,memory=16Gi', '--restart-backoff', '200ms'] });
  api = client(server.url, server.token);
  run = cliRunner(join(dir, 'cli.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token });
}, 60_000);

afterAll(async () => {
  if (!root) return;
  await run(['stack', 'rm', 'app']).catch(() => undefined);
  await until(async () => (await api('GET', '/v1/projects/default/instances')).body.items.length, (n) => n === 0, 30_000).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 1000));
  await server.stop();
  server.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!root)('services and stacks', () => {
  it('applies a stack, then a second apply and plan change nothing', async () => {
    const file = stack('v1.yaml', service('exec sleep 3600'));
    const first = await run(['apply', '-f', file]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/service\/web\s+available: 4\/4 ready \(revision 1\)/);
    expect(first.stdout).toMatch(/stack\/app applied/);
    expect((await run(['apply', '-f', file])).stdout).toBe('No changes.\n');
    const plan = await run(['plan', '-f', file, '--detailed-exitcode']);
    expect([plan.code, plan.stdout]).toEqual([0, 'No changes.\n']);
    const changed = await run(['plan', '-f', stack('v2.yaml', service('exec sleep 3601')), '--detailed-exitcode']);
    expect(changed.code).toBe(2);
    expect(changed.stdout).toContain('~ spec.template.spec.command: ["sh","-c","exec sleep 3600"] → ["sh","-c","exec sleep 3601"]');
    expect((await replicas('web')).filter(ready)).toHaveLength(4);
  });

  it('keeps at least replicas - maxUnavailable healthy at every sample of a rolling update', async () => {
    let sampling = true;
    const samples: number[] = [];
    const sampler = (async () => {
      while (sampling) {
        samples.push((await replicas('web')).filter(ready).length);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const res = await run(['apply', '-f', join(dir, 'v2.yaml')]);
    sampling = false;
    await sampler;
    expect(res.code, res.stderr).toBe(0);
    expect(samples.length).toBeGreaterThan(10);
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(3); // 4 replicas, maxUnavailable 1
    const now = await replicas('web');
    expect(now.every((i) => i.metadata.labels?.['stratus.io/revision'] === '2')).toBe(true);
  });

  it('rolls a broken version back automatically and says why', async () => {
    const res = await run(['apply', '-f', stack('broken.yaml', service('exit 7'))]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/service\/web failed: rolled back: revision 3 replica web-\S+ restarted 3 times/);
    const svc = (await api('GET', '/v1/projects/default/services/web')).body;
    expect(svc.status.history.find((h: { revision: number }) => h.revision === 3).state).toBe('failed');
    await until(() => replicas('web'), (rs) => rs.filter(ready).length === 4 && rs.every((i) => i.metadata.labels?.['stratus.io/revision'] === '2'));
    const history = await run(['service', 'history', 'web']);
    expect(history.stdout).toMatch(/^3\s+failed/m);
    expect(history.stdout).toMatch(/^2\s+active \(current\)/m);
  });

  it('replaces a killed replica and a deleted one', async () => {
    const [victim] = await replicas('web');
    process.kill(victim!.status!.pid!, 'SIGKILL');
    const back = await until(() => api('GET', `/v1/projects/default/instances/${victim!.metadata.name}`).then((r) => r.body as Inst), (i) => ready(i) && (i.status?.restarts ?? 0) >= 1);
    expect(back.status!.pid).not.toBe(victim!.status!.pid);
    await api('DELETE', `/v1/projects/default/instances/${victim!.metadata.name}`);
    const after = await until(() => replicas('web'), (rs) => rs.filter(ready).length === 4 && !rs.some((i) => i.metadata.uid === victim!.metadata.uid));
    expect(after).toHaveLength(4);
  });

  it('prunes exactly what left the file', async () => {
    const extra = `instances:\n  helper: {driver: process, command: [sleep, "3600"], resources: {cpu: 10m, memory: 16Mi}}\n  once: {driver: process, command: ["true"], restartPolicy: never, resources: {cpu: 10m, memory: 16Mi}}\n`;
    expect((await run(['apply', '-f', stack('with-extras.yaml', service('exec sleep 3601', extra))])).code).toBe(0);
    const before = (await api('GET', '/v1/projects/default/services/web')).body;
    const plan = await run(['plan', '-f', join(dir, 'v2.yaml'), '--prune']);
    expect(plan.stdout).toContain('- instance/helper (delete: no longer in the file)');
    expect(plan.stdout).toContain('- instance/once (delete: no longer in the file)');
    expect(plan.stdout).toContain('Plan: 0 to create, 0 to change, 2 to delete.');
    expect((await run(['apply', '-f', join(dir, 'v2.yaml'), '--prune'])).code).toBe(0);
    const names = (await api('GET', '/v1/projects/default/instances')).body.items.map((i: Inst) => i.metadata.name);
    expect(names.filter((n: string) => !n.startsWith('web-'))).toEqual([]);
    const after = (await api('GET', '/v1/projects/default/services/web')).body;
    expect([after.metadata.uid, after.metadata.generation]).toEqual([before.metadata.uid, before.metadata.generation]);
  });

  it('applies nothing from a file that fails validation, and names every problem', async () => {
    const bad = stack('bad.yaml', `
name: app
services:
  web:
    template: {driver: process, command: [sleep, "1"], resources: {memory: 12Qi}}
  api:
    replicas: -1
    template: {driver: process, command: [sleep, "1"]}
instances:
  fresh: {driver: process, command: [sleep, "1"]}
`);
    const res = await run(['apply', '-f', bad]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('nothing was applied');
    expect(res.stderr).toContain('services.web.template.resources.memory: "12Qi" is not a size');
    expect(res.stderr).toContain('services.api.replicas: -1 is less than the minimum 0');
    expect((await api('GET', '/v1/projects/default/instances/fresh')).status).toBe(404);
    expect((await api('GET', '/v1/projects/default/services/api')).status).toBe(404);
    const cycle = await run(['apply', '-f', stack('cycle.yaml', 'services:\n  a: {template: {driver: process, command: [x]}, dependsOn: [b]}\n  b: {template: {driver: process, command: [x]}, dependsOn: [a]}\n')]);
    expect(cycle.stderr.trim()).toBe('error: dependsOn cycle: a → b → a');
    const syntax = await run(['apply', '-f', stack('syntax.yaml', 'services:\n  a: {template: [\n')]);
    expect(syntax.stderr).toMatch(/syntax\.yaml:\d+:\d+: YAML syntax error/);
  });

  it('scales, restarts and removes a stack with everything it owns', async () => {
    expect((await run(['service', 'scale', 'web', '2'])).code).toBe(0);
    await until(() => replicas('web'), (rs) => rs.length === 2 && rs.every(ready));
    expect((await run(['service', 'restart', 'web'])).code).toBe(0);
    await until(() => api('GET', '/v1/projects/default/services/web').then((r) => r.body), (s) => s.status.revision === 4 && s.status.phase === 'Available');
    expect((await run(['stack', 'ls'])).stdout).toMatch(/^app\s+1\s/m);
    expect((await run(['stack', 'rm', 'app'])).stdout).toMatch(/stack\/app deleted/);
    await until(async () => (await api('GET', '/v1/projects/default/instances')).body.items.length, (n) => n === 0);
    expect((await api('GET', '/v1/projects/default/services/web')).status).toBe(404);
  });

  it('deletes a project with a running service in one command (--cascade), and refuses without it', async () => {
    expect((await run(['project', 'create', 'doomed'])).code).toBe(0);
    const file = stack('doomed.yaml', service('exec sleep 1000').replace('replicas: 4', 'replicas: 3'));
    expect((await run(['-p', 'doomed', 'apply', '-f', file])).code).toBe(0);
    const inDoomed = async () => (await api('GET', '/v1/projects/doomed/instances')).body.items as Inst[];
    await until(inDoomed, (rs) => rs.length === 3 && rs.every(ready));
    const refused = await run(['project', 'delete', 'doomed']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: project "doomed" still has 3 instances, 1 service.*--cascade \(STRATUS_ERR_DEPENDENCY\)\n$/);
    // the service controller is alive while the delete runs: its replicas must not come back and block it
    const gone = await run(['project', 'delete', 'doomed', '--cascade']);
    expect(gone.stderr).toBe('');
    expect(gone.stdout).toMatch(/project\/doomed deleted/);
    expect((await api('GET', '/v1/projects/doomed')).status).toBe(404);
    await until(async () => (await api('GET', '/v1/instances')).body.items.filter((i: { metadata: { project: string } }) => i.metadata.project === 'doomed').length, (n) => n === 0);
  });
});
