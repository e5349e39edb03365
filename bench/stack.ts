/**
 * Orchestration benchmarks (issue: services and stacks).
 *
 *   apply   `stratus apply` of a 100-service stack until every service is Available, against
 *           creating the same 100 instances one by one through the API until all run and are
 *           ready, in the same run (the floor: no controller, no rollout bookkeeping).
 *   rollout a 10-replica service from one version to the next (maxSurge 1, maxUnavailable 0,
 *           and 25 % / 25 %), until the new version is Available.
 *
 *   npx tsx bench/stack.ts [--services 100]          (root; runs real processes on this machine)
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { startChild, fmt, adminJson, BIN, BENCH_TOKEN as TOKEN, type Child } from './lib/util.js';

const run = promisify(execFile);
const { values } = parseArgs({ options: { services: { type: 'string', default: '100' } } });
const N = Number(values.services);
const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-stack-'));
const template = (cmd: string) => ({ driver: 'process', command: ['sh', '-c', cmd], resources: { cpu: '10m', memory: '16Mi' }, health: { command: ['true'], interval: 1, timeout: 1 } });

const api = (server: Child, method: string, path: string, body?: unknown) => adminJson(server.url, method, path, body, [404]);

async function cli(server: Child, args: string[]): Promise<void> {
  await run(process.execPath, [BIN, '--server', server.url, '--token', TOKEN, ...args], { maxBuffer: 64 << 20 });
}

async function until(check: () => Promise<boolean>, timeoutMs = 600_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const isReady = (i: { status?: { phase: string; conditions?: { type: string; status: string }[] } }) =>
  i.status?.phase === 'Running' && (i.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

async function clean(server: Child): Promise<void> {
  for (const kind of ['stacks', 'services', 'instances']) {
    for (const o of (await api(server, 'GET', `/v1/projects/default/${kind}`)).items) await api(server, 'DELETE', `/v1/projects/default/${kind}/${o.metadata.name}`);
  }
  await until(async () => (await api(server, 'GET', '/v1/projects/default/instances')).items.length === 0);
  await new Promise((r) => setTimeout(r, 2000));
}

async function applyStack(server: Child): Promise<number> {
  const services = Object.fromEntries(Array.from({ length: N }, (_, i) => [`s${i}`, { replicas: 1, template: template('exec sleep 3600') }]));
  const file = join(dir, 'big.json');
  writeFileSync(file, JSON.stringify({ name: 'big', services }));
  const t0 = performance.now();
  await cli(server, ['apply', '-f', file, '--timeout', '10m']);
  return performance.now() - t0;
}

async function oneByOne(server: Child): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await api(server, 'POST', '/v1/projects/default/instances', { kind: 'instance', metadata: { name: `i${i}` }, spec: template('exec sleep 3600') });
  await until(async () => (await api(server, 'GET', '/v1/projects/default/instances')).items.filter(isReady).length === N);
  return performance.now() - t0;
}

async function rollout(server: Child, update: Record<string, unknown>): Promise<number> {
  const svc = (cmd: string) => ({ kind: 'service', metadata: { name: 'ten' }, spec: { replicas: 10, template: { spec: template(cmd) }, update } });
  await api(server, 'POST', '/v1/projects/default/services', svc('exec sleep 3600'));
  const available = (rev: number) => async () => {
    const s = await api(server, 'GET', '/v1/projects/default/services/ten');
    return s.status?.phase === 'Available' && s.status.revision === rev && s.status.observedGeneration >= s.metadata.generation;
  };
  await until(available(1));
  const t0 = performance.now();
  await api(server, 'PUT', '/v1/projects/default/services/ten', svc('exec sleep 3601'));
  await until(available(2));
  const ms = performance.now() - t0;
  await api(server, 'DELETE', '/v1/projects/default/services/ten');
  await until(async () => (await api(server, 'GET', '/v1/projects/default/instances')).items.length === 0);
  return ms;
}

const server = await startChild([BIN, 'server', '--data-dir', join(dir, 'data'), '--port', '0', '--node-name', `bench-${process.pid}`, '--network', 'host', '--capacity', 'cpu=64,memory=64Gi'], { STRATUS_BOOTSTRAP_TOKEN: TOKEN });
try {
  await until(async () => (await api(server, 'GET', '/v1/nodes')).items.some((n: { status?: { phase: string } }) => n.status?.phase === 'Ready'));
  const stack = await applyStack(server);
  await clean(server);
  const direct = await oneByOne(server);
  await clean(server);
  const r1 = await rollout(server, { maxSurge: 1, maxUnavailable: 0 });
  const r25 = await rollout(server, { maxSurge: '25%', maxUnavailable: '25%' });
  console.log(`\n## Orchestration (${N} services of 1 replica each; process instances; embedded agent)\n`);
  console.log('| what | time | against |');
  console.log('|---|---|---|');
  console.log(`| \`stratus apply\` of the ${N}-service stack until all Available | ${fmt(stack / 1000, 2)} s | ${fmt(direct / 1000, 2)} s creating the ${N} instances one by one through the API until all ready (×${fmt(stack / direct, 2)}) |`);
  console.log(`| rollout of 10 replicas, maxSurge 1, maxUnavailable 0 | ${fmt(r1 / 1000, 2)} s | |`);
  console.log(`| rollout of 10 replicas, maxSurge 25 %, maxUnavailable 25 % | ${fmt(r25 / 1000, 2)} s | |`);
} finally {
  await clean(server).catch(() => undefined);
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
