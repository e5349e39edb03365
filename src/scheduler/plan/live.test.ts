import { describe, expect, it } from 'vitest';
import { instance, node } from '../engine/fixtures.js';
import { SERVICE_LABEL } from '../../model/kinds/service.js';
import { immovableReason, planCompaction } from './live.js';

/** n nodes of 4 cores, each with one instance of `cpu` millicores. */
function cluster(n: number, cpu: number) {
  const nodes = Array.from({ length: n }, (_, i) => node(`n${i}`));
  const instances = nodes.map((nd, i) => instance(`i${i}`, { cpu, node: nd.metadata.name }));
  return { nodes, instances };
}

describe('planCompaction', () => {
  it('empties 4 half-full nodes down to 2', () => {
    const { nodes, instances } = cluster(4, 2000);
    const p = planCompaction(nodes, instances);
    expect(p.before).toBe(4);
    expect(p.drains).toHaveLength(2);
    expect(p.after).toBe(2);
    const drained = new Set(p.drains.map((d) => d.node));
    for (const d of p.drains) for (const m of d.moves) expect(drained.has(m.to)).toBe(false);
    // Checked together: the two moved instances went to different nodes (each has room for one).
    const targets = p.drains.flatMap((d) => d.moves.map((m) => m.to));
    expect(new Set(targets).size).toBe(2);
    expect(p.kept.map((k) => k.node).sort()).toEqual([...targets].sort());
  });

  it('does not stack two drains onto room that only one of them fits', () => {
    // 3 nodes at 3/4 full: one can take nothing from another (1 core free each, 3 needed).
    const { nodes, instances } = cluster(3, 3000);
    const p = planCompaction(nodes, instances);
    expect(p.drains).toEqual([]);
    expect(p.kept).toHaveLength(3);
    expect(p.kept[0]!.reason).toMatch(/fits on no other node \(\d nodes: .*insufficient CPU/);
  });

  it('checks each drain on top of the ones before it: two cannot take the same room', () => {
    // a and b hold 1 core each; c has 1.5 cores free; d is full. Alone, either a or b fits into
    // c; together only one does (and a then b onto each other leaves one of them full).
    const nodes = [node('a'), node('b'), node('c'), node('d')];
    const instances = [instance('ia', { cpu: 1000, node: 'a' }), instance('ib', { cpu: 1000, node: 'b' }), instance('ic', { cpu: 2500, node: 'c' }), instance('id', { cpu: 4000, node: 'd' })];
    const p = planCompaction(nodes, instances);
    expect(p.drains).toHaveLength(1);
    expect(p.after).toBe(3);
  });

  it('drains from the least-utilised node first', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const instances = [instance('big', { cpu: 3000, node: 'a' }), instance('mid', { cpu: 2000, node: 'b' }), instance('small', { cpu: 500, node: 'c' })];
    const p = planCompaction(nodes, instances);
    expect(p.drains[0]!.node).toBe('c');
  });

  it('keeps the node of a pinned instance, saying why', () => {
    const { nodes, instances } = cluster(2, 1000);
    instances[0]!.spec.placement = { node: 'n0' };
    const p = planCompaction(nodes, instances);
    expect(p.drains.map((d) => d.node)).toEqual(['n1']);
    expect(p.drains[0]!.moves).toEqual([{ key: 'p/i1', from: 'n1', to: 'n0' }]);
    expect(p.kept).toEqual([{ node: 'n0', instances: 2, reason: 'p/i0 cannot move: pinned to node n0 (spec.placement.node)' }]);
  });

  it('moves GPU instances only onto GPU nodes', () => {
    const nodes = [node('g0', { gpus: 2 }), node('g1', { gpus: 2 }), node('c0', { cpu: 16000, memory: 65536 })];
    const instances = [instance('gpu', { gpu: { count: 1 }, node: 'g0', gpuAllocation: [{ index: 0, milli: 1000 }] }), instance('other', { gpu: { count: 1 }, node: 'g1', gpuAllocation: [{ index: 0, milli: 1000 }] })];
    const p = planCompaction(nodes, instances);
    expect(p.drains).toHaveLength(1);
    expect(p.drains[0]!.moves[0]!.to).toMatch(/^g[01]$/);
    expect(p.empty).toEqual(['c0']);
  });

  it('honours node selectors and host ports', () => {
    const nodes = [node('a', { labels: { disk: 'ssd' } }), node('b'), node('c')];
    const instances = [
      instance('ssd', { cpu: 500, node: 'a', placement: { nodeSelector: 'disk=ssd' } }),
      instance('web1', { cpu: 500, node: 'b', ports: [{ port: 80, publish: 8080 }] }),
      instance('web2', { cpu: 500, node: 'c', ports: [{ port: 80, publish: 8080 }] }),
    ];
    const p = planCompaction(nodes, instances);
    // web1 and web2 cannot share a node (same host port); ssd can only stay on a.
    expect(p.after).toBe(2);
    expect(p.kept.find((k) => k.node === 'a')).toBeDefined();
  });

  it('leaves cordoned nodes alone and counts empty ones', () => {
    const { nodes, instances } = cluster(2, 1000);
    nodes[1]!.spec.unschedulable = true;
    const p = planCompaction([...nodes, node('spare')], instances);
    // n0 cannot move onto the cordoned n1; it can onto the empty spare, which is no saving... but
    // the greedy only empties nodes, so moving n0's instance to spare empties n0.
    expect(p.empty).toEqual(['spare']);
    expect(p.drains.map((d) => d.node)).toEqual(['n0']);
    expect(p.drains[0]!.moves[0]!.to).toBe('spare');
  });
});

describe('immovableReason', () => {
  it('says why volumes and restartPolicy never pin an instance; a service replica may move', () => {
    const vol = instance('v', { node: 'n' });
    vol.spec.volumes = [{ volume: 'data', path: '/data' }];
    expect(immovableReason(vol)).toBe('uses volume data, which stays on its node');
    const once = instance('o', { node: 'n' });
    once.spec.restartPolicy = 'never';
    expect(immovableReason(once)).toMatch(/restartPolicy never and no service/);
    once.metadata.labels = { [SERVICE_LABEL]: 'web' };
    expect(immovableReason(once)).toBeUndefined();
    expect(immovableReason(instance('plain', { node: 'n' }))).toBeUndefined();
  });
});
