import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBackend } from '../store/memory.js';
import { openBackend } from '../store/index.js';
import { Repository } from '../store/repository.js';
import { instanceKind, nodeKind, projectKind, eventKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Node } from '../model/kinds/node.js';
import { Scheduler } from './live.js';
import { EventRecorder } from '../runtime/events.js';
import { holdsResources, release } from '../model/lifecycle.js';
import { ledgerKeys } from '../model/keyspace.js';

let repo: Repository;
let schedulers: Scheduler[];

async function addNode(name: string, cpu: number, memory: number, extra: Partial<Node['status']> = {}) {
  const n = await repo.create<Node>(nodeKind, { metadata: { name }, spec: {} });
  await repo.setStatus(nodeKind, n, { phase: 'Ready', allocatable: { cpu, memory, disk: 100_000, gpus: [] }, capacity: { cpu, memory, disk: 100_000, gpus: [] }, ...extra });
}

async function addInstance(name: string, cpu: number, memory = 64, priority = 0) {
  return repo.create<Instance>(instanceKind, {
    metadata: { name, project: 'p' },
    spec: { driver: 'process', command: ['x'], resources: { cpu, memory, disk: 0 }, priority, restartPolicy: 'always', gracePeriod: 10 },
  });
}

async function startScheduler(name = 'scheduler') {
  const s = new Scheduler(repo, new EventRecorder(repo, name), { name, retryMs: 200 });
  await s.start();
  schedulers.push(s);
  return s;
}

async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`condition not met: ${JSON.stringify(v).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const inst = (name: string) => repo.get<Instance>(instanceKind, name, 'p');

beforeEach(async () => {
  repo = new Repository(new MemoryBackend());
  schedulers = [];
  await repo.create(projectKind, { metadata: { name: 'p' }, spec: {} });
  await repo.create(projectKind, { metadata: { name: 'system' }, spec: {} });
});

afterEach(async () => {
  for (const s of schedulers) await s.stop();
});

describe('live scheduler', () => {
  it('says no nodes have joined, then binds once a node joins', async () => {
    await startScheduler();
    await addInstance('a', 500);
    const waiting = await until(() => inst('a'), (i) => i.status?.reason === 'NoNodes');
    expect(waiting.status?.message).toMatch(/no nodes have joined/);
    expect(waiting.status?.phase).toBe('Pending');
    await addNode('n1', 4000, 8192);
    const bound = await until(() => inst('a'), (i) => i.status?.phase === 'Scheduled');
    expect(bound.status).toMatchObject({ node: 'n1', reason: 'Scheduled' });
    expect(bound.status?.score).toBeTypeOf('number');
    const events = await until(() => repo.list(eventKind, { project: 'p' }), (l) => l.items.some((e) => (e.spec as { reason: string }).reason === 'Scheduled'));
    expect(events.items.map((e) => (e.spec as { message: string }).message).join('\n')).toMatch(/assigned to node n1 \(score \d+\)/);
  });

  it('binds the placements of one node in one commit', async () => {
    for (let i = 0; i < 12; i++) await addInstance(`b${i}`, 100);
    await addNode('n1', 4000, 8192);
    const commits: string[][] = [];
    const txn = repo.backend.txn.bind(repo.backend);
    repo.backend.txn = (ops) => {
      if (ops.some((o) => o.key.startsWith(ledgerKeys.prefix))) commits.push(ops.map((o) => o.key));
      return txn(ops);
    };
    const s = await startScheduler();
    await until(async () => (await repo.list<Instance>(instanceKind, { project: 'p' })).items, (xs) => xs.every((x) => x.status?.node === 'n1'));
    expect(s.stats.bound).toBe(12);
    expect(commits).toHaveLength(1);
    expect(commits[0]).toHaveLength(13);
  });

  it('explains, counted by reason, why an instance fits nowhere', async () => {
    await addNode('small-1', 1000, 1024);
    await addNode('small-2', 1000, 1024);
    await startScheduler();
    await addInstance('huge', 500, 4096);
    const i = await until(() => inst('huge'), (x) => x.status?.reason === 'Unschedulable');
    expect(i.status?.explanation?.nodes).toBe(2);
    expect(i.status?.explanation?.reasons).toEqual([{ reason: 'insufficient memory', count: 2 }]);
    expect(i.status?.message).toMatch(/^2 nodes: 2 insufficient memory/);
  });

  it('never overcommits a node when two schedulers race on the same nodes', async () => {
    for (let n = 0; n < 10; n++) await addNode(`n${n}`, 4000, 65536);
    await Promise.all([startScheduler('s1'), startScheduler('s2')]);
    await Promise.all(Array.from({ length: 200 }, (_, i) => addInstance(`i${i}`, 300)));
    // 10 nodes × floor(4000 / 300) = 130 fit; the rest must stay pending.
    const all = await until(
      async () => (await repo.list<Instance>(instanceKind, { project: 'p' })).items,
      (items) => items.filter(holdsResources).length === 130 && items.filter((i) => i.status?.reason === 'Unschedulable').length === 70,
      30_000,
    );
    const perNode = new Map<string, number>();
    for (const i of all.filter(holdsResources)) perNode.set(i.status!.node!, (perNode.get(i.status!.node!) ?? 0) + i.spec.resources.cpu);
    for (const [, cpu] of perNode) expect(cpu).toBeLessThanOrEqual(4000);
    expect(schedulers.map((s) => s.stats.bound).reduce((a, b) => a + b)).toBe(130);
    // They really raced: bindings planned on stale views were refused at commit.
    expect(schedulers.map((s) => s.stats.conflicts).reduce((a, b) => a + b)).toBeGreaterThan(0);
  });

  it('preempts lower-priority instances: they stop and are released, then the preemptor runs', async () => {
    await addNode('small', 1000, 8192);
    await startScheduler();
    for (let i = 0; i < 4; i++) await addInstance(`low-${i}`, 250, 64, 0);
    await until(async () => (await repo.list<Instance>(instanceKind, { project: 'p' })).items, (xs) => xs.filter((x) => x.status?.phase === 'Scheduled').length === 4);
    await addInstance('high', 500, 64, 100);
    // Two victims are asked to stop; the preemptor waits for them, saying so.
    const stopping = await until(async () => (await repo.list<Instance>(instanceKind, { project: 'p' })).items.filter((x) => x.status?.phase === 'Stopping'), (xs) => xs.length === 2);
    expect(stopping.every((x) => x.status?.reason === 'Preempted' && /preempted by p\/high \(priority 100 > 0\)/.test(x.status.message ?? ''))).toBe(true);
    expect((await inst('high')).status).toMatchObject({ phase: 'Pending', reason: 'Preempting' });
    // What the victims' agent does once they stopped: release them (restart always: Pending again).
    for (const v of stopping) await repo.setStatus(instanceKind, v, release(v, 'Preempted', 'stopped', 'Preempted', new Date().toISOString()));
    const high = await until(() => inst('high'), (x) => x.status?.phase === 'Scheduled');
    expect(high.status?.node).toBe('small');
    const lows = (await repo.list<Instance>(instanceKind, { project: 'p' })).items.filter((x) => x.metadata.name.startsWith('low'));
    expect(lows.filter((x) => x.status?.phase === 'Scheduled')).toHaveLength(2);
    expect(lows.filter((x) => x.status?.phase === 'Pending').map((x) => x.status?.reason)).toEqual(expect.arrayContaining(['Unschedulable']));
    const events = await until(() => repo.list(eventKind, { project: 'p' }), (l) => l.items.some((e) => (e.spec as { reason: string }).reason === 'Preempted'));
    expect(events.items.find((e) => (e.spec as { reason: string }).reason === 'Preempted')!.spec).toMatchObject({ type: 'Warning', message: expect.stringMatching(/node small/) });
  });

  it('never overcommits on the sqlite store either (group commit interleaves the two)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-sched-'));
    repo = new Repository(await openBackend(`sqlite://${join(dir, 'db')}?sync=normal`));
    await repo.create(projectKind, { metadata: { name: 'p' }, spec: {} });
    await repo.create(projectKind, { metadata: { name: 'system' }, spec: {} });
    for (let n = 0; n < 6; n++) await addNode(`n${n}`, 2000, 65536);
    await Promise.all([startScheduler('s1'), startScheduler('s2')]);
    await Promise.all(Array.from({ length: 80 }, (_, i) => addInstance(`i${i}`, 500)));
    const all = await until(
      async () => (await repo.list<Instance>(instanceKind, { project: 'p' })).items,
      (items) => items.filter(holdsResources).length === 24 && items.filter((i) => i.status?.reason === 'Unschedulable').length === 56,
      30_000,
    );
    const perNode = new Map<string, number>();
    for (const i of all.filter(holdsResources)) perNode.set(i.status!.node!, (perNode.get(i.status!.node!) ?? 0) + i.spec.resources.cpu);
    expect([...perNode.values()].every((cpu) => cpu <= 2000)).toBe(true);
    for (const s of schedulers) await s.stop();
    schedulers = [];
    await repo.backend.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
