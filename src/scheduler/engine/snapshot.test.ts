import { describe, expect, it } from 'vitest';
import { instance, node } from './fixtures.js';
import { ClusterSnapshot, occupiesNode } from './snapshot.js';

describe('ClusterSnapshot', () => {
  it('counts what bound instances use, device by device', () => {
    const snap = ClusterSnapshot.from(
      [node('a', { cpu: 8000, memory: 16384, gpus: 2 })],
      [
        instance('whole', { node: 'a', cpu: 1000, memory: 1024, gpu: { count: 1 }, gpuAllocation: [{ index: 1, milli: 1000 }] }),
        instance('share', { node: 'a', cpu: 500, memory: 512, gpu: { share: 300 } }),
        instance('pending', { cpu: 7000 }),
        instance('done', { node: 'a', cpu: 7000, phase: 'Succeeded' }),
      ],
    );
    const a = snap.node('a')!;
    expect([a.freeCpu, a.freeMemory, a.count]).toEqual([6500, 14848, 2]);
    // the share lands on the free device 0 (best fit), the whole GPU holds device 1
    expect(a.gpuFree).toEqual([700, 0]);
    expect(snap.instance('p/share')?.allocation.gpus).toEqual([{ index: 0, milli: 300 }]);
    expect(snap.instance('p/pending')).toBeUndefined();
  });

  it('updates incrementally and logs which nodes changed', () => {
    const snap = ClusterSnapshot.from([node('a'), node('b')]);
    const seq = snap.seq;
    snap.bind(instance('x', { node: 'b', cpu: 1000 }));
    expect(snap.changesSince(seq)).toEqual([snap.node('b')!.slot]);
    const v = snap.node('b')!.version;
    snap.bind(instance('x', { node: 'b', cpu: 1000 })); // idempotent: same node
    expect(snap.node('b')!.version).toBe(v);
    snap.bind(instance('x', { node: 'a', cpu: 1000 })); // moved
    expect([snap.node('a')!.freeCpu, snap.node('b')!.freeCpu]).toEqual([3000, 4000]);
    snap.bind(instance('x', { node: 'a', cpu: 1000, phase: 'Failed' })); // no longer occupying
    expect(snap.node('a')!.freeCpu).toBe(4000);
    expect(snap.release('p/x')).toBeUndefined();
  });

  it('keeps instances of a node across node updates and removal', () => {
    const snap = ClusterSnapshot.from([node('a', { cpu: 4000 })], [instance('x', { node: 'a', cpu: 1000 })]);
    snap.upsertNode(node('a', { cpu: 6000, zone: 'z1' }));
    expect(snap.node('a')!.freeCpu).toBe(5000);
    expect(snap.topology.counts('p', '').perZone.get('z1')).toBe(1);
    snap.removeNode('a');
    expect(snap.node('a')).toBeUndefined();
    expect(snap.nodeCount).toBe(0);
    expect(snap.topology.counts('p', '').perZone.get('z1')).toBeUndefined();
    snap.upsertNode(node('a', { cpu: 2000 }));
    expect(snap.node('a')!.freeCpu).toBe(1000);
  });

  it('reports node health and implicit labels', () => {
    const snap = ClusterSnapshot.from([node('a', { zone: 'z', phase: 'NotReady', spec: { unschedulable: true, pool: 'gpu' }, labels: { tier: 'x' } })]);
    const a = snap.node('a')!;
    expect([a.ready, a.cordoned, a.draining]).toEqual([false, true, false]);
    expect(a.labels).toEqual({ tier: 'x', 'stratus/node': 'a', 'stratus/zone': 'z', 'stratus/pool': 'gpu' });
  });

  it('treats a change the engine does not read as no change', () => {
    const snap = ClusterSnapshot.from([node('a')]);
    const [v, id, seq, idSeq] = [snap.node('a')!.version, snap.node('a')!.identity, snap.seq, snap.identitySeq];
    const beat = node('a');
    beat.status!.lastHeartbeat = '2026-01-01T00:01:00.000Z';
    snap.upsertNode(beat);
    expect([snap.node('a')!.version, snap.node('a')!.identity, snap.seq, snap.identitySeq]).toEqual([v, id, seq, idSeq]);
    expect(snap.node('a')!.node).toBe(beat);
    snap.upsertNode(node('a', { labels: { x: 'y' } }));
    expect(snap.node('a')!.identity).not.toBe(id);
    expect(snap.identityChangesSince(idSeq)).toEqual([snap.node('a')!.slot]);
    // usage changes move the version, not the identity
    const id2 = snap.node('a')!.identity;
    snap.bind(instance('x', { node: 'a' }));
    expect(snap.node('a')!.identity).toBe(id2);
  });

  it('knows which phases hold resources', () => {
    expect(occupiesNode(instance('a', { node: 'n', phase: 'Starting' }))).toBe(true);
    expect(occupiesNode(instance('a', { node: 'n', phase: 'Stopped' }))).toBe(false);
    // stopped by a person (stratus instance stop): still holds its node, so start finds room there
    expect(occupiesNode(instance('a', { node: 'n', phase: 'Off' }))).toBe(true);
    expect(occupiesNode(instance('a', { phase: 'Running' }))).toBe(false);
  });

  it('drops old log entries and says so', () => {
    const snap = ClusterSnapshot.from([node('a', { cpu: 10_000_000 })]);
    for (let i = 0; i < 10_000; i++) snap.bind(instance(`i${i}`, { node: 'a', cpu: 1 }));
    expect(snap.changesSince(0)).toBeUndefined();
    expect(snap.changesSince(snap.seq)).toEqual([]);
  });
});

describe('TopologyIndex', () => {
  it('counts matching instances per node and zone, kept current', () => {
    const snap = ClusterSnapshot.from(
      [node('a', { zone: 'z1' }), node('b', { zone: 'z1' }), node('c', { zone: 'z2' })],
      [instance('w1', { node: 'a', labels: { app: 'web' } }), instance('d1', { node: 'c', labels: { app: 'db' } })],
    );
    const web = snap.topology.counts('p', 'app=web');
    expect([web.total, web.perNode.get('a'), web.perZone.get('z1')]).toEqual([1, 1, 1]);
    snap.bind(instance('w2', { node: 'b', labels: { app: 'web' } }));
    snap.bind(instance('w3', { node: 'c', labels: { app: 'web' }, project: 'other' }));
    expect([web.total, web.perZone.get('z1'), web.perZone.get('z2')]).toEqual([2, 2, undefined]);
    snap.release('p/w1');
    expect([web.total, web.perNode.get('a')]).toEqual([1, undefined]);
    expect(snap.topology.counts('p', 'app in (web,db)').total).toBe(2);
    expect(snap.topology.counts('p', '!app').total).toBe(0);
  });

  it('finds the anti-affinity terms held against a newcomer', () => {
    const snap = ClusterSnapshot.from(
      [node('a', { zone: 'z1' })],
      [instance('lonely', { node: 'a', labels: { app: 'x' }, placement: { antiAffinity: [{ selector: 'app=web', topology: 'zone' }] } })],
    );
    const held = snap.topology.holders('p', { app: 'web' });
    expect(held.map((h) => [h.selectorText, h.topology, h.perZone.get('z1')])).toEqual([['app=web', 'zone', 1]]);
    expect(snap.topology.holders('p', { app: 'db' })).toEqual([]);
    expect(snap.topology.holders('q', { app: 'web' })).toEqual([]);
    snap.release('p/lonely');
    expect(snap.topology.holders('p', { app: 'web' })).toEqual([]);
  });
});
