import { describe, expect, it } from 'vitest';
import type { Instance } from '../../model/kinds/instance.js';
import type { Node } from '../../model/kinds/node.js';
import { createEngine, type EngineOptions } from './engine.js';
import { formatExplanation } from './explain.js';
import { instance, node } from './fixtures.js';
import { ClusterSnapshot } from './snapshot.js';

function plan(nodes: Node[], pending: Instance[], bound: Instance[] = [], opts: EngineOptions = { policy: 'binpack' }) {
  const snap = ClusterSnapshot.from(nodes, bound);
  return { snap, plan: createEngine(opts).schedule(snap, pending), engine: createEngine(opts) };
}

const where = (p: ReturnType<typeof plan>['plan']) => Object.fromEntries(p.placements.map((x) => [x.key, x.node]));

describe('Engine.schedule', () => {
  it('bin-packs and lets later instances of the batch see earlier placements', () => {
    const { plan: p } = plan(
      [node('a', { cpu: 4000 }), node('b', { cpu: 4000 })],
      [instance('one', { cpu: 3000 }), instance('two', { cpu: 3000 }), instance('three', { cpu: 1000 })],
      [instance('old', { node: 'b', cpu: 1000 })],
    );
    // one → b (the busier node), two → a (b is full now), three → a (the only node with room)
    expect(where(p)).toEqual({ 'p/one': 'b', 'p/two': 'a', 'p/three': 'a' });
    expect(p.placements.every((x) => x.score >= 0 && x.score <= 100)).toBe(true);
  });

  it("counts a VM's QEMU overhead on its node: 4 VMs of 64 MiB fit a 768 MiB node, not 12", () => {
    const vms = Array.from({ length: 6 }, (_, i) => instance(`vm${i}`, { driver: 'vm', memory: 64 }));
    const { plan: p } = plan([node('a', { memory: 768, drivers: { vm: {} } })], vms, []);
    // 64 MiB + VM_MEMORY_OVERHEAD_MIB (128) = 192 MiB each
    expect(p.placements).toHaveLength(4);
    const snap = ClusterSnapshot.from([node('b', { memory: 768 })]);
    snap.bind(instance('v', { driver: 'vm', memory: 64, node: 'b' }));
    expect(snap.node('b')!.freeMemory).toBe(768 - 192);
  });

  it('leaves the snapshot as it was unless asked to assume', () => {
    const snap = ClusterSnapshot.from([node('a', { cpu: 4000 })]);
    const engine = createEngine({ policy: 'binpack' });
    engine.schedule(snap, [instance('x', { cpu: 1000 })]);
    expect(snap.node('a')!.freeCpu).toBe(4000);
    expect(snap.instance('p/x')).toBeUndefined();
    engine.schedule(snap, [instance('x', { cpu: 1000 })], { assume: true });
    expect(snap.node('a')!.freeCpu).toBe(3000);
    expect(snap.instance('p/x')?.assumed).toBe(true);
    snap.bind(instance('x', { cpu: 1000, node: 'a' }));
    expect(snap.instance('p/x')?.assumed).toBe(false);
  });

  it('places higher priority first', () => {
    const { plan: p } = plan([node('a', { cpu: 1000 })], [instance('low', { cpu: 1000 }), instance('high', { cpu: 1000, priority: 5 })]);
    expect(where(p)).toEqual({ 'p/high': 'a' });
    expect(p.unplaced.map((u) => u.key)).toEqual(['p/low']);
  });

  it('explains why nothing fits, counting every node once', () => {
    const { plan: p } = plan(
      [
        node('a', { cpu: 1000 }),
        node('b', { cpu: 8000, spec: { unschedulable: true } }),
        node('c', { cpu: 2000 }),
        node('d', { cpu: 8000, phase: 'NotReady' }),
        node('e', { cpu: 8000, memory: 64 }),
      ],
      [instance('big', { cpu: 3000 })],
    );
    const u = p.unplaced[0]!;
    expect(u.explanation).toEqual({
      nodes: 5,
      reasons: [
        { reason: 'insufficient CPU', count: 2 },
        { reason: 'insufficient memory', count: 1 },
        { reason: 'node is cordoned', count: 1 },
        { reason: 'node is not ready', count: 1 },
      ],
    });
    expect(u.message).toBe('5 nodes: 2 insufficient CPU, 1 insufficient memory, 1 node is cordoned, 1 node is not ready');
    expect(u.kind).toBe('unresolvable');
  });

  it('says no nodes have joined', () => {
    const { plan: p } = plan([], [instance('x')]);
    expect(p.unplaced[0]!.message).toBe('no nodes have joined');
    expect(p.unplaced[0]!.explanation.reasons.reduce((s, r) => s + r.count, 0)).toBe(0);
  });

  it('honours pin, node selector and zones', () => {
    const nodes = [node('a', { zone: 'z1', labels: { disk: 'ssd' } }), node('b', { zone: 'z2', labels: { disk: 'ssd' } }), node('c', { zone: 'z2' })];
    const { plan: p } = plan(nodes, [
      instance('pinned', { placement: { node: 'c' } }),
      instance('ssd', { placement: { nodeSelector: 'disk=ssd', zones: ['z2'] } }),
      instance('zone', { placement: { nodeSelector: 'stratus/zone=z1' } }),
      instance('nowhere', { placement: { nodeSelector: 'disk=nvme' } }),
    ]);
    expect(where(p)).toEqual({ 'p/pinned': 'c', 'p/ssd': 'b', 'p/zone': 'a' });
    expect(p.unplaced[0]!.message).toBe('3 nodes: 3 labels do not match disk=nvme');
  });

  it('treats host ports per protocol and counts instance slots', () => {
    const { plan: p } = plan(
      [node('a', { instances: 2 })],
      [
        instance('tcp', { ports: [{ port: 80, publish: 8080 }] }),
        instance('udp', { ports: [{ port: 80, publish: 8080, protocol: 'udp' }] }),
        instance('third'),
      ],
    );
    expect(where(p)).toEqual({ 'p/tcp': 'a', 'p/udp': 'a' });
    expect(p.unplaced[0]!.message).toBe('1 node: 1 too many instances');
    const clash = plan([node('a')], [instance('x', { ports: [{ port: 1, publish: 8080 }] })], [instance('y', { node: 'a', ports: [{ port: 2, publish: 8080 }] })]);
    expect(clash.plan.unplaced[0]!.message).toBe('1 node: 1 host port tcp/8080 in use');
    expect(clash.plan.unplaced[0]!.kind).toBe('unschedulable');
  });

  it('accounts GPUs per device and honours models', () => {
    const nodes = [node('t4', { cpu: 32000, memory: 65536, gpus: 2, model: 'T4' }), node('v100', { cpu: 32000, memory: 65536, gpus: 2, model: 'V100M32' }), node('cpu')];
    const { plan: p } = plan(
      nodes,
      [
        instance('s1', { gpu: { share: 600, models: ['T4'] } }),
        instance('s2', { gpu: { share: 600, models: ['T4'] } }),
        instance('s3', { gpu: { share: 600, models: ['T4'] } }),
        instance('v', { gpu: { count: 2, models: ['V100M32'] } }),
        instance('a100', { gpu: { count: 1, models: ['A100'] } }),
      ],
      [],
      { policy: 'bestfit' },
    );
    expect(where(p)).toEqual({ 'p/s1': 't4', 'p/s2': 't4', 'p/v': 'v100' });
    const devices = p.placements.filter((x) => x.node === 't4').map((x) => x.allocation.gpus);
    expect(devices).toEqual([[{ index: 0, milli: 600 }], [{ index: 1, milli: 600 }]]);
    const byKey = Object.fromEntries(p.unplaced.map((u) => [u.key, u.message]));
    expect(byKey['p/s3']).toBe('3 nodes: 2 no GPU of model T4, 1 insufficient GPU');
    expect(byKey['p/a100']).toBe('3 nodes: 3 no GPU of model A100');
  });
});

describe('affinity, anti-affinity and spread', () => {
  const zoned = () => [node('a1', { zone: 'z1' }), node('a2', { zone: 'z1' }), node('b1', { zone: 'z2' }), node('b2', { zone: 'z2' })];

  it('keeps replicas with required node anti-affinity apart', () => {
    const web = (n: string) => instance(n, { labels: { app: 'web' }, placement: { antiAffinity: [{ selector: 'app=web' }] } });
    const { plan: p } = plan(zoned(), [web('w1'), web('w2'), web('w3'), web('w4'), web('w5')]);
    expect(new Set(p.placements.map((x) => x.node)).size).toBe(4);
    expect(p.unplaced[0]!.message).toBe('4 nodes: 4 anti-affinity app=web (node)');
  });

  it('honours the anti-affinity of instances already running (symmetry)', () => {
    const loner = instance('loner', { node: 'a1', labels: { app: 'db' }, placement: { antiAffinity: [{ selector: 'app=web', topology: 'zone' }] } });
    const { plan: p } = plan(zoned(), [instance('w', { labels: { app: 'web' }, cpu: 3000 })], [instance('filler', { node: 'b1', cpu: 3900 }), loner]);
    expect(where(p)).toEqual({ 'p/w': 'b2' });
  });

  it('co-locates with required affinity, waiving it for the first of a group', () => {
    const follower = (n: string) => instance(n, { labels: { app: 'cache' }, placement: { affinity: [{ selector: 'app=cache', topology: 'zone' }] } });
    const { plan: p } = plan(zoned(), [follower('c1'), follower('c2'), follower('c3')], [], { policy: 'spread' });
    const zones = new Set(p.placements.map((x) => x.node[0]));
    expect(p.placements).toHaveLength(3);
    expect(zones.size).toBe(1);
    const lost = plan(zoned(), [instance('x', { placement: { affinity: [{ selector: 'app=db' }] } })]);
    expect(lost.plan.unplaced[0]!.message).toBe('4 nodes: 4 affinity app=db not satisfied (node)');
  });

  it('adds preferred affinity to the score', () => {
    const { plan: p } = plan(
      [node('a', { cpu: 4000 }), node('b', { cpu: 4000 })],
      [instance('x', { cpu: 100, placement: { affinity: [{ selector: 'app=db', required: false, weight: 10 }] } })],
      [instance('busy', { node: 'a', cpu: 3000 }), instance('db', { node: 'b', labels: { app: 'db' } })],
    );
    // binpack alone prefers a (busier); the bonus ⌊100·10/10⌋ = 100 × weight 2 moves it to b
    expect(where(p)).toEqual({ 'p/x': 'b' });
  });

  it('spreads over zones within max skew', () => {
    const rep = (n: string) => instance(n, { labels: { app: 'api' }, placement: { spread: [{ topology: 'zone', selector: 'app=api', maxSkew: 1 }] } });
    const { plan: p } = plan(zoned(), [rep('r1'), rep('r2'), rep('r3'), rep('r4')]);
    const perZone = p.placements.reduce<Record<string, number>>((m, x) => ({ ...m, [x.node[0]!]: (m[x.node[0]!] ?? 0) + 1 }), {});
    expect(perZone).toEqual({ a: 2, b: 2 });
    const noZone = plan([node('plain')], [rep('r')]);
    expect(noZone.plan.unplaced[0]!.message).toBe('1 node: 1 node has no zone (spread over zones)');
  });
});

describe('preemption', () => {
  it('evicts the fewest, lowest-priority instances on one node', () => {
    const { plan: p } = plan(
      [node('a', { cpu: 4000 }), node('b', { cpu: 4000 })],
      [instance('vip', { cpu: 3000, priority: 10 })],
      [
        instance('a-small1', { node: 'a', cpu: 1000, priority: 1 }),
        instance('a-small2', { node: 'a', cpu: 1000, priority: 1 }),
        instance('a-small3', { node: 'a', cpu: 1000, priority: 1 }),
        instance('a-big', { node: 'a', cpu: 1000, priority: 5 }),
        instance('b-big', { node: 'b', cpu: 3000, priority: 2 }),
        instance('b-tiny', { node: 'b', cpu: 1000, priority: 0 }),
      ],
    );
    expect(where(p)).toEqual({ 'p/vip': 'b' });
    expect(p.placements[0]!.preempts).toEqual(['p/b-big']);
    expect(p.preemptions.map((x) => [x.key, x.node, x.by])).toEqual([['p/b-big', 'b', 'p/vip']]);
    expect(p.preemptions[0]!.reason).toBe('preempted by p/vip (priority 10) on node b');
  });

  it('never preempts equal priority', () => {
    const { plan: p } = plan([node('a', { cpu: 1000 })], [instance('x', { cpu: 1000, priority: 3 })], [instance('y', { node: 'a', cpu: 1000, priority: 3 })]);
    expect(p.placements).toEqual([]);
    expect(p.unplaced[0]!.kind).toBe('unschedulable');
  });

  it('does not evict instances placed by the same plan', () => {
    const { plan: p } = plan([node('a', { cpu: 1000 })], [instance('first', { cpu: 1000, priority: 5 }), instance('second', { cpu: 1000, priority: 1 })]);
    expect(where(p)).toEqual({ 'p/first': 'a' });
    expect(p.preemptions).toEqual([]);
  });
});

describe('Engine.fits (commit-time re-check)', () => {
  it('re-checks resources, devices and the instance itself', () => {
    const snap = ClusterSnapshot.from([node('a', { cpu: 4000, gpus: 2 })], [instance('other', { node: 'a', cpu: 3000, gpu: { share: 500 }, gpuAllocation: [{ index: 0, milli: 500 }] })]);
    const engine = createEngine({ policy: 'binpack' });
    const x = instance('x', { cpu: 1000, gpu: { share: 600 } });
    expect(engine.fits(snap, 'a', x).kind).toBe('fits');
    expect(engine.fits(snap, 'a', x, { gpus: [{ index: 1, milli: 600 }], hostPorts: [] }).kind).toBe('fits');
    expect(engine.fits(snap, 'a', x, { gpus: [{ index: 0, milli: 600 }], hostPorts: [] })).toEqual({
      kind: 'unschedulable',
      reason: 'GPU 0 has 500 thousandths free, the instance needs 600',
    });
    expect(engine.fits(snap, 'a', instance('y', { cpu: 2000 }))).toEqual({ kind: 'unschedulable', reason: 'insufficient CPU' });
    expect(engine.fits(snap, 'zz', x).kind).toBe('unresolvable');
    engine.schedule(snap, [x], { assume: true });
    expect(engine.fits(snap, 'a', x).kind).toBe('fits'); // its own assumption does not count against it
  });

  it('explains on demand', () => {
    const snap = ClusterSnapshot.from([node('a', { cpu: 1000 })]);
    expect(formatExplanation(createEngine().explain(snap, instance('x', { cpu: 2000 })))).toBe('1 node: 1 insufficient CPU');
  });
});
