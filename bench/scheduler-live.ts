/**
 * Live scheduling latency (issue: scheduler, target 4): Pending → bound through the real server
 * and store (SQLite, fsync on), with 1,000 registered nodes. An instance is created through the
 * API; the clock stops when a watcher sees it bound to a node. Sequential, so this is latency,
 * not throughput. A p99 needs at least 1,000 samples (below that the report gives the max alone).
 *
 *   npx tsx bench/scheduler-live.ts [--nodes 1000] [--instances 1000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startChild, percentile, fmt, adminJson, BIN, BENCH_TOKEN as TOKEN, ADMIN_HEADERS as H } from './lib/util.js';
import { readEvents } from '../src/client/index.js';

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '1000' }, instances: { type: 'string', default: '1000' } } });
const NODES = Number(values.nodes);
const N = Number(values.instances);
const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-sched-'));
const server = await startChild([BIN, 'server', '--data-dir', dir, '--port', '0', '--no-agent'], { STRATUS_BOOTSTRAP_TOKEN: TOKEN });

const call = (method: string, path: string, body?: unknown): Promise<unknown> => adminJson(server.url, method, path, body);

try {
  const zones = ['a', 'b', 'c', 'd'];
  for (let i = 0; i < NODES; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, NODES - i) }, async (_, j) => {
      const name = `n${String(i + j).padStart(5, '0')}`;
      await call('POST', '/v1/nodes', { metadata: { name, labels: { disk: (i + j) % 3 ? 'hdd' : 'ssd' } }, spec: { zone: zones[(i + j) % 4] } });
      const res = { cpu: 32000, memory: 131072, disk: 1_000_000, gpus: [] };
      await call('PUT', `/v1/nodes/${name}/status`, { phase: 'Ready', capacity: res, allocatable: res });
    }));
  }
  const controller = new AbortController();
  const bound = new Map<string, (t: number) => void>();
  const watch = await fetch(`${server.url}/v1/projects/default/instances?watch=true`, { headers: H, signal: controller.signal });
  void (async () => {
    for await (const m of readEvents(watch.body!)) {
      const o = m.object as { metadata: { name: string }; status?: { node?: string } } | undefined;
      if (o?.status?.node) bound.get(o.metadata.name)?.(performance.now());
    }
  })().catch(() => undefined);
  const latencies: number[] = [];
  for (let i = 0; i < N + 20; i++) {
    const name = `i-${i}`;
    const done = new Promise<number>((r) => bound.set(name, r));
    const spec = { driver: 'process', command: ['sleep', '1'], resources: { cpu: '250m', memory: '256Mi' }, placement: i % 2 ? { nodeSelector: 'disk=ssd' } : { antiAffinity: [{ selector: 'app=web' }] } };
    const t0 = performance.now();
    await call('POST', '/v1/projects/default/instances', { kind: 'instance', metadata: { name, labels: { app: i % 2 ? 'batch' : 'web' } }, spec });
    const t = (await done) - t0;
    if (i >= 20) latencies.push(t);
  }
  controller.abort();
  latencies.sort((a, b) => a - b);
  console.log(`\n## Live scheduling: Pending → bound through the API and the SQLite store (fsync on)\n`);
  console.log(`${NODES} nodes in 4 zones, ${N} instances created one at a time (half with a node selector, half with required anti-affinity), after 20 warm-up`);
  const p99 = N >= 1000 ? `p99 ${fmt(percentile(latencies, 99), 2)} ms` : `p99 n/a (${N} samples; 1,000 needed)`;
  console.log(`p50 ${fmt(percentile(latencies, 50), 2)} ms, ${p99}, max ${fmt(latencies.at(-1)!, 2)} ms (target p99 ≤ 20 ms); load ${fmt(loadavg()[0]!, 2)}`);
  console.log('includes: the create request and its commit, the watch to the scheduler, placement, the binding commit (CAS), the watch to the client');
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
