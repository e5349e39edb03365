import { describe, expect, it } from 'vitest';
import { Engine } from '../engine.js';
import { instance, node } from '../fixtures.js';
import { ClusterSnapshot } from '../snapshot.js';
import type { VolumeConstraint } from '../types.js';
import type { Instance } from '../../../model/kinds/instance.js';
import type { Volume } from '../../../model/kinds/volume.js';
import { VolumeLocator } from '../../volume-locator.js';
import type { Informers } from '../../../runtime/informers.js';

const withVolume = (name: string, o: Parameters<typeof instance>[1] = {}): Instance => {
  const i = instance(name, o);
  return { ...i, spec: { ...i.spec, volumes: [{ volume: 'data', path: '/data' }] } };
};

/** n1 is fuller, so binpack prefers it: a volume on n2 must win over the score. */
function cluster(): ClusterSnapshot {
  return ClusterSnapshot.from([node('n1'), node('n2'), node('n3')], [instance('filler', { node: 'n1', cpu: 2000 })]);
}

describe('volume placement', () => {
  it('places an instance on its volume\'s node, whatever the score says', () => {
    const engine = new Engine({ policy: 'binpack', volumes: () => ({ node: 'n2', reason: 'volume "data" is on node n2' }) });
    const plan = engine.schedule(cluster(), [withVolume('db')]);
    expect(plan.placements.map((p) => p.node)).toEqual(['n2']);
    expect(new Engine({ policy: 'binpack' }).schedule(cluster(), [withVolume('db')]).placements.map((p) => p.node)).toEqual(['n1']);
  });

  it.each<[string, VolumeConstraint, string]>([
    ['on a node that cannot take it', { node: 'n2', reason: 'volume "data" is on node n2' }, '3 nodes: 2 volume "data" is on node n2, 1 insufficient CPU'],
    ['on a node that left', { node: 'gone', reason: 'volume "data" is on node gone' }, '3 nodes: 3 volume "data" is on node gone, which is not in the cluster'],
    ['in use by another instance', { reason: 'volume "data" is in use by instance "old"' }, '3 nodes: 3 volume "data" is in use by instance "old"'],
  ])('explains a volume %s', (_name, constraint, message) => {
    const snap = ClusterSnapshot.from([node('n1'), node('n2', { cpu: 500 }), node('n3')], []);
    const engine = new Engine({ policy: 'binpack', preemption: false, volumes: () => constraint });
    const plan = engine.schedule(snap, [withVolume('db', { cpu: 1000 })]);
    expect(plan.placements).toEqual([]);
    expect(plan.unplaced.map((u) => u.message)).toEqual([message]);
  });
});

/** Informers holding fixed volumes and instances (the locator only reads items and subscribes). */
function fakeInformers(volumes: Volume[], instances: Instance[]): Informers {
  const key = (o: { metadata: { project?: string; name: string } }) => `${o.metadata.project}/${o.metadata.name}`;
  const of = (items: { metadata: { project?: string; name: string } }[]) => ({
    items: new Map(items.map((o) => [key(o), o])),
    use: async (h: { add?: (o: unknown) => void }) => {
      for (const o of items) h.add?.(o);
      return { close: () => undefined };
    },
  });
  return { of: (k: { kind: string }) => (k.kind === 'volume' ? of(volumes) : of(instances)) } as unknown as Informers;
}

const vol = (node?: string, specNode?: string): Volume => ({
  kind: 'volume', metadata: { name: 'data', project: 'p', uid: 'v', revision: 1, generation: 1, createdAt: '2026-01-01T00:00:00Z' },
  spec: { size: 1024, type: 'filesystem', ...(specNode ? { node: specNode } : {}) }, status: { phase: node ? 'Available' : 'Pending', ...(node ? { node } : {}) },
});

describe('VolumeLocator', () => {
  it.each<[string, Volume, Instance[], VolumeConstraint | undefined]>([
    ['a volume on no node yet constrains nothing', vol(), [], undefined],
    ['status.node', vol('n2'), [], { node: 'n2', reason: 'volume "data" is on node n2' }],
    ['spec.node wins', vol('n2', 'n3'), [], { node: 'n3', reason: 'volume "data" is on node n3' }],
    ['used by a running instance', vol('n2'), [withVolume('old', { node: 'n2' })], { reason: 'volume "data" is in use by instance "old"' }],
    ['used by one that failed: free', vol('n2'), [withVolume('old', { node: 'n2', phase: 'Failed' })], { node: 'n2', reason: 'volume "data" is on node n2' }],
  ])('%s', async (_name, v, users, want) => {
    const locator = new VolumeLocator(fakeInformers([v], users));
    await locator.start(() => undefined);
    expect(locator.locate(withVolume('db'))).toEqual(want);
  });
});
