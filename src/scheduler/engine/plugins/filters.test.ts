import { describe, expect, it } from 'vitest';
import { formatExplanation, tally } from '../explain.js';
import { instance, node, type InstanceOpts, type NodeOpts } from '../fixtures.js';
import { bestFitDevices, shareCandidates } from '../gpu.js';
import { compileRequest } from '../request.js';
import { createRng, shuffle } from '../rng.js';
import { ClusterSnapshot } from '../snapshot.js';
import { unresolvable, unschedulable, type FilterPlugin, type FilterResult } from '../types.js';
import { driverFilter, nodeHealth, nodeName, nodeSelector, zones } from './node-filters.js';
import { nodeCapacity, nodeResources } from './resources.js';

function verdict(plugin: FilterPlugin, n: NodeOpts, req: InstanceOpts, used: InstanceOpts[] = []): FilterResult {
  const snap = ClusterSnapshot.from([node('n1', n)], used.map((u, i) => instance(`u${i}`, { ...u, node: 'n1' })));
  return plugin.filter(compileRequest(instance('x', req), () => 'binpack'), snap.node('n1')!);
}

const FITS: FilterResult = { kind: 'fits' };

describe('static filters', () => {
  it.each<[string, FilterPlugin, NodeOpts, InstanceOpts, FilterResult]>([
    ['ready node', nodeHealth, {}, {}, FITS],
    ['not ready', nodeHealth, { phase: 'Down' }, {}, unresolvable('node is not ready')],
    ['cordoned', nodeHealth, { spec: { unschedulable: true } }, {}, unresolvable('node is cordoned')],
    ['draining', nodeHealth, { spec: { draining: true } }, {}, unresolvable('node is draining')],
    ['pinned here', nodeName, {}, { placement: { node: 'n1' } }, FITS],
    ['pinned elsewhere', nodeName, {}, { placement: { node: 'n9' } }, unresolvable('not the requested node n9')],
    ['zone allowed', zones, { zone: 'b' }, { placement: { zones: ['a', 'b'] } }, FITS],
    ['zone not allowed', zones, { zone: 'c' }, { placement: { zones: ['b', 'a'] } }, unresolvable('not in zone a, b')],
    ['no zone', zones, {}, { placement: { zones: ['a'] } }, unresolvable('not in zone a')],
    ['labels match', nodeSelector, { labels: { disk: 'ssd' } }, { placement: { nodeSelector: 'disk in (ssd,nvme)' } }, FITS],
    ['labels differ', nodeSelector, { labels: { disk: 'hdd' } }, { placement: { nodeSelector: 'disk=ssd' } }, unresolvable('labels do not match disk=ssd')],
    ['driver healthy here', driverFilter, { drivers: { container: {}, process: {} } }, {}, FITS],
    ['driver not here', driverFilter, { drivers: { process: {} } }, { driver: 'vm' }, unresolvable('driver vm unavailable')],
    ['no drivers reported: not judged', driverFilter, {}, { driver: 'vm' }, FITS],
    ['unisolated allowed', driverFilter, { drivers: { process: { unisolated: 'allowed' } } }, { driver: 'process', isolation: 'none' }, FITS],
    ['unisolated refused', driverFilter, { drivers: { process: { unisolated: 'refused' } } }, { driver: 'process', isolation: 'none' }, unresolvable('unisolated processes not allowed on the node')],
    ['sandboxed process anywhere with the driver', driverFilter, { drivers: { process: { unisolated: 'refused' } } }, { driver: 'process' }, FITS],
  ])('%s', (_name, plugin, n, req, want) => {
    expect(verdict(plugin, n, req)).toEqual(want);
  });
});

describe('resource filters', () => {
  it.each<[string, FilterPlugin, NodeOpts, InstanceOpts, InstanceOpts[], FilterResult]>([
    ['fits', nodeResources, { cpu: 2000 }, { cpu: 1000 }, [{ cpu: 1000 }], FITS],
    // 2000 − 1500 = 500 free < 1000
    ['CPU full', nodeResources, { cpu: 2000 }, { cpu: 1000 }, [{ cpu: 1500 }], unschedulable('insufficient CPU')],
    ['CPU too small', nodeCapacity, { cpu: 2000 }, { cpu: 3000 }, [], unresolvable('insufficient CPU')],
    ['memory full', nodeResources, { memory: 1024 }, { memory: 600 }, [{ memory: 600 }], unschedulable('insufficient memory')],
    ['disk too small', nodeCapacity, { disk: 10 }, { disk: 20 }, [], unresolvable('insufficient disk')],
    ['slots full', nodeResources, { instances: 1 }, {}, [{}], unschedulable('too many instances')],
    ['port taken', nodeResources, {}, { ports: [{ port: 1, publish: 53, protocol: 'udp' }] }, [{ ports: [{ port: 2, publish: 53, protocol: 'udp' }] }], unschedulable('host port udp/53 in use')],
    ['no GPUs', nodeCapacity, {}, { gpu: { count: 1 } }, [], unresolvable('no GPUs')],
    ['wrong model', nodeCapacity, { gpus: 2, model: 'T4' }, { gpu: { share: 100, models: ['A100', 'H100'] } }, [], unresolvable('no GPU of model A100|H100')],
    ['too few devices', nodeCapacity, { gpus: 2 }, { gpu: { count: 4 } }, [], unresolvable('insufficient GPU')],
    // devices free [200, 1000]: a 300 share fits on device 1
    ['share fits', nodeResources, { gpus: 2 }, { gpu: { share: 300 } }, [{ gpu: { share: 800 } }], FITS],
    // devices free [200, 0]
    ['shares full', nodeResources, { gpus: 2 }, { gpu: { share: 300 } }, [{ gpu: { share: 800 } }, { gpu: { count: 1 } }], unschedulable('insufficient GPU')],
    // a whole GPU needs a completely free device: [200, 1000] has one, 2 are asked
    ['whole GPUs need free devices', nodeResources, { gpus: 2 }, { gpu: { count: 2 } }, [{ gpu: { share: 800 } }], unschedulable('insufficient GPU')],
  ])('%s', (_name, plugin, n, req, used, want) => {
    expect(verdict(plugin, n, req, used)).toEqual(want);
  });
});

describe('device choice', () => {
  const snap = ClusterSnapshot.from(
    [node('n', { gpus: [{ model: 'T4' }, { model: 'T4' }, { model: 'A10' }, { model: 'T4' }] })],
    [instance('a', { node: 'n', gpu: { share: 600 }, gpuAllocation: [{ index: 0, milli: 600 }] }), instance('b', { node: 'n', gpu: { share: 600 }, gpuAllocation: [{ index: 3, milli: 600 }] })],
  );
  const n = snap.node('n')!;
  const demand = (gpu: InstanceOpts['gpu']) => compileRequest(instance('x', { gpu }), () => 'binpack').demand;

  it('best fit: the least free device that fits; whole GPUs on the lowest free ones', () => {
    // free: [400, 1000, 1000 (A10), 400]
    expect(bestFitDevices(n, demand({ share: 300 }))).toEqual([0]);
    expect(bestFitDevices(n, demand({ share: 500, models: ['T4'] }))).toEqual([1]);
    expect(bestFitDevices(n, demand({ count: 2 }))).toEqual([1, 2]);
    expect(bestFitDevices(n, demand({ count: 2, models: ['T4'] }))).toBeUndefined();
  });

  it('share candidates: one device per distinct (model, free)', () => {
    expect(shareCandidates(n, demand({ share: 300 }))).toEqual([0, 1, 2]);
  });
});

describe('explanations', () => {
  it('formats counts with thousands separators, most common first', () => {
    const verdicts = [
      ...Array.from({ length: 1200 }, () => unschedulable('insufficient GPU')),
      ...Array.from({ length: 300 }, () => unresolvable('no GPU of model V100M32')),
      ...Array.from({ length: 23 }, () => unschedulable('insufficient memory')),
    ];
    const e = tally(1523, shuffle(verdicts, createRng(1)));
    expect(formatExplanation(e)).toBe('1,523 nodes: 1,200 insufficient GPU, 300 no GPU of model V100M32, 23 insufficient memory');
    expect(e.reasons.reduce((s, r) => s + r.count, 0)).toBe(e.nodes);
    expect(formatExplanation(tally(0, []))).toBe('no nodes have joined');
  });
});

describe('rng', () => {
  it('is seeded and uniform enough', () => {
    const a = createRng(42);
    const b = createRng(42);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(xs.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b()));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
    expect(createRng(43)()).not.toBe(createRng(42)());
  });
});

describe('driver filter in the engine', () => {
  it('keeps an instance whose driver no node has Pending, saying why per node', async () => {
    const { createEngine } = await import('../engine.js');
    const snap = ClusterSnapshot.from([node('a', { drivers: { process: {} } }), node('b', { drivers: { process: {}, container: {} } })], []);
    const plan = createEngine().schedule(snap, [instance('vm1', { driver: 'vm' }), instance('c1', { driver: 'container' })]);
    expect(plan.placements.map((p) => [p.instance.metadata.name, p.node])).toEqual([['c1', 'b']]);
    const why = plan.unplaced.find((u) => u.instance.metadata.name === 'vm1')!;
    expect(formatExplanation(why.explanation)).toBe('2 nodes: 2 driver vm unavailable');
  });
});
