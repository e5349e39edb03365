import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../store/memory.js';
import { Repository } from '../../store/repository.js';
import { FakeClock, sequentialIds } from '../../model/runtime.js';
import { instanceKind, nodeKind, nodePoolKind, projectKind, tokenKind, volumeKind } from '../../model/kinds/index.js';
import { DRAINED_ANNOTATION, type Node } from '../../model/kinds/node.js';
import type { Instance } from '../../model/kinds/instance.js';
import type { NodePool } from '../../model/kinds/node-pool.js';
import type { Token } from '../../model/kinds/token.js';
import { EventRecorder } from '../../runtime/events.js';
import { Informers } from '../../runtime/informers.js';
import { ClusterAutoscaler } from './autoscaler.js';
import { SCALE_DOWN_ANNOTATION } from './pool-status.js';
import type { CreateRequest, DeleteRequest, MachineProvider } from './providers/provider.js';

let clock: FakeClock;
let repo: Repository;
let scaler: ClusterAutoscaler;
let created: CreateRequest[];
let deleted: DeleteRequest[];
let failCreate: string | undefined;

/** A provider that only records what it is asked. */
const fake: MachineProvider = {
  type: 'fake',
  create: async (req) => {
    if (failCreate) throw new Error(failCreate);
    created.push(req);
    return { node: req.node, id: `vm-${created.length}` };
  },
  delete: async (req) => void deleted.push(req),
};

beforeEach(async () => {
  clock = new FakeClock();
  repo = new Repository(new MemoryBackend(), clock, sequentialIds());
  for (const name of ['p', 'system']) await repo.create(projectKind, { metadata: { name }, spec: {} });
  created = [];
  deleted = [];
  failCreate = undefined;
  scaler = new ClusterAutoscaler(repo, new EventRecorder(repo, 'cluster-autoscaler'), {
    informers: new Informers(repo), servers: () => ['http://cp:7070'], localDir: '/nowhere', intervalMs: 1e9, providers: () => fake,
  });
  await scaler.start();
  return () => scaler.stop();
});

/** A pool's spec as the API stores it (normalized: millicores, MiB). */
const spec = (o: Partial<NodePool['spec']> = {}) => ({ min: 0, max: 5, shape: { cpu: 4000, memory: 8192, disk: 0, gpus: [], labels: {} }, provider: { type: 'command', create: ['/bin/true'], delete: ['/bin/true'] }, scaleDownDelay: '1m', joinTimeout: '5m', ...o });
const pool = async () => (await repo.get<NodePool>(nodePoolKind, 'burst')).status!;

/** A node of the pool as its agent would report it. */
async function readyNode(name: string, poolName = 'burst') {
  const res = { cpu: 4000, memory: 8192, disk: 0, gpus: [] };
  const n = await repo.create<Node>(nodeKind, { metadata: { name }, spec: { pool: poolName } });
  return repo.setStatus(nodeKind, n, { phase: 'Ready', capacity: res, allocatable: res });
}

async function pendingInstance(name: string, cpu: number) {
  const i = await repo.create<Instance>(instanceKind, { metadata: { name, project: 'p' }, spec: { driver: 'process', command: ['x'], resources: { cpu, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10 } });
  return repo.setStatus(instanceKind, i, { phase: 'Pending', reason: 'Unschedulable', message: '0 nodes' });
}

describe('ClusterAutoscaler', () => {
  it('creates machines up to min, each with a join token of its own, and not again while they join', async () => {
    await repo.create(nodePoolKind, { metadata: { name: 'burst' }, spec: spec({ min: 2 }) });
    await scaler.pass();
    expect(created.map((c) => c.pool)).toEqual(['burst', 'burst']);
    expect(new Set(created.map((c) => c.node)).size).toBe(2);
    expect(new Set(created.map((c) => c.joinToken)).size).toBe(2);
    expect(created[0]).toMatchObject({ servers: ['http://cp:7070'], shape: { cpu: 4000, memory: 8192 } });
    const tokens = (await repo.list<Token>(tokenKind)).items.filter((t) => t.spec.join);
    expect(tokens).toHaveLength(2);
    expect((await pool()).size).toBe(2);
    expect((await pool()).decisions![0]).toMatchObject({ action: 'scale-up', count: 2, reason: 'below its min (0 of 2)' });
    expect((await pool()).nodes!.map((n) => n.phase)).toEqual(['Joining', 'Joining']);

    // pending work that the joining machines will take: no third machine
    await pendingInstance('w1', 3000);
    await scaler.pass();
    expect(created).toHaveLength(2);
    expect((await pool()).decisions![0]).toMatchObject({ action: 'waiting', count: 2 });
    await scaler.pass(); // nothing changed: no new simulation, and the decision still holds
    expect((await pool()).decisions![0]).toMatchObject({ action: 'waiting', count: 2 });

    // a machine joins: its join token goes
    await readyNode(created[0]!.node);
    await scaler.pass();
    expect((await repo.list<Token>(tokenKind)).items.filter((t) => t.spec.join)).toHaveLength(1);
  });

  it('grows by what the engine says the pending instances need', async () => {
    await repo.create(nodePoolKind, { metadata: { name: 'burst' }, spec: spec() });
    await readyNode('burst-a');
    // 3 cores each: one per 4-core machine; one takes burst-a, the other two need a machine each
    for (let i = 0; i < 3; i++) await pendingInstance(`big${i}`, 3000);
    await scaler.pass();
    expect(created).toHaveLength(2);
    expect((await pool()).decisions![0]).toMatchObject({ action: 'scale-up', count: 2, reason: '2 pending instances of 2 fit on 2 new machines of its shape' });
  });

  it('deletes a machine that did not join within joinTimeout, says so, and makes another', async () => {
    await repo.create(nodePoolKind, { metadata: { name: 'burst' }, spec: spec({ min: 1 }) });
    await scaler.pass();
    const first = created[0]!.node;
    clock.advance(5 * 60_000 + 1);
    await scaler.pass();
    expect(deleted).toEqual([{ pool: 'burst', node: first, id: 'vm-1' }]);
    expect((await pool()).errors![0]!.message).toBe(`machine ${first} did not join as a Ready node within 5m; deleting it`);
    expect(created).toHaveLength(2);
    expect(created[1]!.node).not.toBe(first);
  });

  it('a provider that fails: the error in the status, the join token revoked', async () => {
    failCreate = 'create (/opt/mk) exited with 1: quota exceeded';
    await repo.create(nodePoolKind, { metadata: { name: 'burst' }, spec: spec({ min: 1 }) });
    await scaler.pass();
    expect((await pool())).toMatchObject({ size: 0, errors: [{ message: 'create (/opt/mk) exited with 1: quota exceeded' }] });
    expect((await repo.list<Token>(tokenKind)).items.filter((t) => t.spec.join)).toHaveLength(0);
    // not asked again every second: 10 s, then 20 s...
    failCreate = undefined;
    clock.advance(9_000);
    await scaler.pass();
    expect(created).toHaveLength(0);
    expect((await pool()).decisions![0]).toMatchObject({ action: 'blocked', reason: 'below its min (0 of 1); the provider failed, next try at 2026-01-01T00:00:10.000Z' });
    clock.advance(1_000);
    await scaler.pass();
    expect(created).toHaveLength(1);
  });

  it('drains an underused node after scaleDownDelay, deletes the machine once Drained, keeps the one holding a volume, never below min', async () => {
    await repo.create(nodePoolKind, { metadata: { name: 'burst' }, spec: spec({ min: 1 }) });
    for (const n of ['burst-a', 'burst-b', 'burst-c']) await readyNode(n);
    await repo.create(volumeKind, { metadata: { name: 'data', project: 'p' }, spec: { size: '1Gi', node: 'burst-a' } });
    await scaler.pass(); // underused from now
    clock.advance(59_000);
    await scaler.pass();
    expect((await repo.get<Node>(nodeKind, 'burst-b')).spec.draining).toBeUndefined(); // not yet: 59 s < 1m
    clock.advance(1_000);
    await scaler.pass();
    const a = await repo.get<Node>(nodeKind, 'burst-a');
    expect(a.spec.draining).toBeUndefined();
    const b = await repo.get<Node>(nodeKind, 'burst-b');
    expect(b.spec).toMatchObject({ draining: true, unschedulable: true });
    expect(b.metadata.annotations?.[SCALE_DOWN_ANNOTATION]).toMatch(/0 % used \(below 50 %\) for 1m; it runs no instances: draining$/);
    expect((await pool()).decisions!.map((d) => `${d.action} ${d.node}: ${d.reason}`)).toContain('keep burst-a: 0 % used (below 50 %) for 1m, but volume p/data lives on it');

    // the node controller finds it empty: Drained
    await repo.update<Node>(nodeKind, 'burst-b', undefined, (cur) => ({ ...cur, metadata: { ...cur.metadata, annotations: { ...cur.metadata.annotations, [DRAINED_ANNOTATION]: 'now' } }, spec: { pool: 'burst', unschedulable: true } }));
    await scaler.pass();
    expect(deleted).toEqual([{ pool: 'burst', node: 'burst-b' }]);
    expect(await repo.find(nodeKind, 'burst-b')).toBeUndefined();
    const decisions = () => pool().then((st) => st.decisions!.map((d) => `${d.action} ${d.node}: ${d.reason}`));
    expect(await decisions()).toContain('scale-down burst-b: drained; machine deleted');
    // the next one (its delay passed too) starts in the same pass: one drain at a time, not one per delay
    expect((await repo.get<Node>(nodeKind, 'burst-c')).spec.draining).toBe(true);
    await repo.update<Node>(nodeKind, 'burst-c', undefined, (cur) => ({ ...cur, metadata: { ...cur.metadata, annotations: { ...cur.metadata.annotations, [DRAINED_ANNOTATION]: 'now' } }, spec: { pool: 'burst', unschedulable: true } }));
    await scaler.pass();
    expect((await pool()).size).toBe(1);
    expect(deleted.map((d) => d.node)).toEqual(['burst-b', 'burst-c']);

    // min (1) holds burst-a, volume or not
    clock.advance(600_000);
    await scaler.pass();
    expect((await repo.get<Node>(nodeKind, 'burst-a')).spec.draining).toBeUndefined();
    expect((await pool()).lastScaleDown).toBeDefined();
  });

  it('two nodes kept for their own reasons, pass after pass: nothing new written', async () => {
    await repo.create(nodePoolKind, { metadata: { name: 'burst' }, spec: spec() });
    for (const n of ['burst-a', 'burst-b']) {
      await readyNode(n);
      await repo.create(volumeKind, { metadata: { name: `data-${n}`, project: 'p' }, spec: { size: '1Gi', node: n } });
    }
    await scaler.pass();
    clock.advance(60_000);
    await scaler.pass();
    const kept = await repo.get<NodePool>(nodePoolKind, 'burst');
    expect(kept.status!.decisions!.map((d) => `${d.action} ${d.node}`).sort()).toEqual(['keep burst-a', 'keep burst-b']);
    for (let i = 0; i < 3; i++) {
      clock.advance(1_000);
      await scaler.pass();
    }
    expect((await repo.get<NodePool>(nodePoolKind, 'burst')).metadata.revision).toBe(kept.metadata.revision);
  });
});
