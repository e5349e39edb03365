/**
 * Property tests on random clusters and workloads:
 * - a plan never overcommits any resource of any node or any GPU device;
 * - every placed instance satisfies all of its constraints;
 * - the cached engine picks exactly the node a brute-force scan of every node would pick;
 * - explanation counts add up to the node count.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { POLICIES, type Instance, type PolicyName } from '../../model/kinds/instance.js';
import type { Node } from '../../model/kinds/node.js';
import { matches, parseSelector } from '../../model/labels.js';
import { better } from './class-cache.js';
import { createEngine, DEFAULT_CLUSTER_PLUGINS, DEFAULT_FILTERS, type Engine } from './engine.js';
import { CapacityIndex } from './capacity.js';
import { instance, node } from './fixtures.js';
import { buildPolicies } from './policies.js';
import { compileRequest, wantsGpu } from './request.js';
import { createRng } from './rng.js';
import { ClusterSnapshot } from './snapshot.js';
import type { ClusterCheck, EligibleNodes, Placement } from './types.js';
import { bestFitDevices } from './gpu.js';

const MODELS = ['A', 'B'];

/** `arb` one time in `n`, otherwise undefined. */
function rarely<T>(arb: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ arbitrary: fc.constant(undefined), weight: n - 1 }, { arbitrary: arb, weight: 1 });
}
const ZONES = ['z1', 'z2', 'z3'];
const APPS = ['web', 'db', 'cache'];

const nodeArb = (i: number) =>
  fc
    .record({
      cpu: fc.integer({ min: 1, max: 8 }).map((n) => n * 1000),
      memory: fc.integer({ min: 1, max: 8 }).map((n) => n * 1024),
      disk: fc.constantFrom(0, 10_000),
      gpus: fc.integer({ min: 0, max: 4 }),
      model: fc.constantFrom(...MODELS),
      instances: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
      zone: fc.option(fc.constantFrom(...ZONES), { nil: undefined }),
      tier: fc.constantFrom('a', 'b'),
      health: fc.constantFrom('ok', 'ok', 'ok', 'ok', 'cordoned', 'draining', 'notready'),
    })
    .map((o) =>
      node(`n${i}`, {
        ...o,
        labels: { tier: o.tier },
        phase: o.health === 'notready' ? 'NotReady' : 'Ready',
        spec: { unschedulable: o.health === 'cordoned', draining: o.health === 'draining' },
      }),
    );

const termArb = fc.record({
  selector: fc.constantFrom(...APPS).map((a) => `app=${a}`),
  topology: fc.constantFrom('node' as const, 'zone' as const),
  required: fc.boolean(),
  weight: fc.integer({ min: 1, max: 100 }),
});

/** Shapes repeat (a few templates), so equivalence-class caches are reused and must stay right. */
const templateArb = fc.record({
  cpu: fc.integer({ min: 0, max: 30 }).map((n) => n * 100),
  memory: fc.integer({ min: 0, max: 30 }).map((n) => n * 128),
  disk: fc.constantFrom(0, 0, 4000),
  gpu: fc.oneof(
    fc.constant(undefined),
    fc.record({ count: fc.integer({ min: 1, max: 3 }), models: fc.option(fc.subarray(MODELS, { minLength: 1 }), { nil: undefined }) }),
    fc.record({ share: fc.integer({ min: 1, max: 999 }), models: fc.option(fc.subarray(MODELS, { minLength: 1 }), { nil: undefined }) }),
  ),
});
const templatesArb = fc.array(templateArb, { minLength: 1, maxLength: 4 });

const instanceArb = (i: number, templates: fc.Arbitrary<{ cpu: number; memory: number; disk: number; gpu: { count?: number; share?: number; models?: string[] } | undefined }>) =>
  fc
    .record({
      shape: templates,
      app: fc.constantFrom(...APPS),
      port: rarely(fc.record({ publish: fc.constantFrom(80, 443), protocol: fc.constantFrom('tcp' as const, 'udp' as const) }), 5),
      priority: fc.integer({ min: 0, max: 3 }),
      pin: rarely(fc.integer({ min: 0, max: 5 }).map((n) => `n${n}`), 8),
      selector: rarely(fc.constantFrom('tier=a', 'tier!=a', 'stratus/zone in (z1,z2)'), 4),
      zones: rarely(fc.constantFrom('z1', 'z2,z3').map((z) => z.split(',')), 4),
      affinity: rarely(fc.array(termArb, { maxLength: 2 }), 3),
      antiAffinity: rarely(fc.array(termArb, { maxLength: 2 }), 3),
      spread: rarely(fc.record({ topology: fc.constantFrom('node' as const, 'zone' as const), selector: fc.constantFrom(...APPS).map((a) => `app=${a}`), maxSkew: fc.integer({ min: 1, max: 2 }) }), 4),
      policy: rarely(fc.constantFrom('binpack', 'spread', 'fgd', 'fgd-sc', 'bestfit', 'dotprod', 'gpu-packing', 'gpu-clustering') as fc.Arbitrary<PolicyName>, 3),
    })
    .map((o) =>
      instance(`i${i}`, {
        cpu: o.shape.cpu,
        memory: o.shape.memory,
        disk: o.shape.disk,
        ...(o.shape.gpu ? { gpu: o.shape.gpu } : {}),
        labels: { app: o.app },
        priority: o.priority,
        ...(o.port ? { ports: [{ port: 8000, ...o.port }] } : {}),
        placement: {
          ...(o.pin ? { node: o.pin } : {}),
          ...(o.selector ? { nodeSelector: o.selector } : {}),
          ...(o.zones ? { zones: o.zones } : {}),
          ...(o.affinity?.length ? { affinity: o.affinity } : {}),
          ...(o.antiAffinity?.length ? { antiAffinity: o.antiAffinity } : {}),
          ...(o.spread ? { spread: [o.spread] } : {}),
          ...(o.policy ? { policy: o.policy } : {}),
        },
      }),
    );

const clusterArb = fc.integer({ min: 0, max: 7 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => nodeArb(i))));
const workloadArb = fc
  .tuple(templatesArb, fc.integer({ min: 1, max: 30 }))
  .chain(([templates, n]) => fc.tuple(...Array.from({ length: n }, (_, i) => instanceArb(i, fc.constantFrom(...templates)))));

/** Checks every node's totals from the records alone (not from the node's own counters). */
function assertNoOvercommit(snap: ClusterSnapshot): void {
  for (const n of snap.nodes()) {
    const recs = [...snap.instancesOn(n.name)].map((k) => snap.instance(k)!);
    const sum = (f: (r: (typeof recs)[number]) => number) => recs.reduce((s, r) => s + f(r), 0);
    expect(sum((r) => r.demand.cpu)).toBeLessThanOrEqual(n.cpu);
    expect(sum((r) => r.demand.memory)).toBeLessThanOrEqual(n.memory);
    expect(sum((r) => r.demand.disk)).toBeLessThanOrEqual(n.disk);
    expect(recs.length).toBeLessThanOrEqual(n.maxInstances);
    const perDevice = new Map<number, number>();
    for (const r of recs) for (const g of r.allocation.gpus) perDevice.set(g.index, (perDevice.get(g.index) ?? 0) + g.milli);
    for (const [index, milli] of perDevice) {
      expect(n.gpuIndex).toContain(index);
      expect(milli).toBeLessThanOrEqual(1000);
    }
    const ports = recs.flatMap((r) => r.demand.ports);
    expect(new Set(ports).size).toBe(ports.length);
  }
}

function domainCount(snap: ClusterSnapshot, project: string, selector: string, topology: 'node' | 'zone', nodeName: string): number | undefined {
  const zone = snap.node(nodeName)?.zone;
  if (topology === 'zone' && zone === undefined) return undefined;
  const sel = parseSelector(selector);
  let n = 0;
  for (const other of snap.nodes()) {
    if (topology === 'node' ? other.name !== nodeName : other.zone !== zone) continue;
    for (const k of snap.instancesOn(other.name)) {
      const r = snap.instance(k)!;
      if (r.project === project && matches(sel, r.labels)) n++;
    }
  }
  return n;
}

/** Constraints that hold for a placed instance, checked from scratch after the plan. */
function assertConstraints(snap: ClusterSnapshot, p: Placement): void {
  const n = snap.node(p.node)!;
  const inst = p.instance;
  const pl = inst.spec.placement ?? {};
  expect(n.ready && !n.cordoned && !n.draining).toBe(true);
  if (pl.node) expect(n.name).toBe(pl.node);
  if (pl.zones) expect(pl.zones).toContain(n.zone);
  if (pl.nodeSelector) expect(matches(parseSelector(pl.nodeSelector), n.labels)).toBe(true);
  const gpu = inst.spec.resources.gpu;
  const want = gpu?.share ? 1 : (gpu?.count ?? 0);
  expect(p.allocation.gpus).toHaveLength(want);
  expect(new Set(p.allocation.gpus.map((g) => g.index)).size).toBe(want);
  for (const g of p.allocation.gpus) {
    expect(g.milli).toBe(gpu?.share ?? 1000);
    if (gpu?.models) expect(gpu.models).toContain(n.gpuModel[n.gpuIndex.indexOf(g.index)]);
  }
  const project = inst.metadata.project!;
  for (const t of pl.antiAffinity ?? []) {
    if (t.required === false) continue;
    const self = matches(parseSelector(t.selector), inst.metadata.labels) ? 1 : 0;
    const count = domainCount(snap, project, t.selector, t.topology ?? 'node', n.name);
    if (count !== undefined) expect(count).toBe(self);
  }
  for (const t of pl.affinity ?? []) {
    if (t.required === false) continue;
    expect(domainCount(snap, project, t.selector, t.topology ?? 'node', n.name) ?? 0).toBeGreaterThan(0);
  }
}

/** The node a full scan of every node picks for `inst` (no caches, no heaps). */
function referencePick(engine: Engine, snap: ClusterSnapshot, inst: Instance): string | undefined {
  const policies = buildPolicies({ rng: createRng(1), workload: engine.workload });
  const req = compileRequest(inst, (d) => (wantsGpu(d) || snap.maxNode().gpus > 0 ? 'fgd' : 'binpack'));
  engine.workload.observe(req.key, req.demand);
  engine.workload.refresh();
  const max = snap.maxNode();
  const ctx = { maxNodeCpu: max.cpu, maxNodeGpus: max.gpus, capacity: new CapacityIndex(() => snap.nodes()) };
  const staticOk = [...snap.nodes()].filter((n) => DEFAULT_FILTERS.filter((f) => f.static).every((f) => f.filter(req, n).kind === 'fits'));
  const zones = new Map<string, number>();
  for (const n of staticOk) if (n.zone) zones.set(n.zone, (zones.get(n.zone) ?? 0) + 1);
  const eligible: EligibleNodes = { count: staticOk.length, zones, has: (n) => staticOk.includes(n) };
  const checks = DEFAULT_CLUSTER_PLUGINS.map((p) => p.prepare(req, { snapshot: snap, eligible })).filter((c): c is ClusterCheck => c !== undefined);
  let best: { name: string; total: number; tie: number; key: number } | undefined;
  for (const n of snap.nodes()) {
    if (!DEFAULT_FILTERS.every((f) => f.filter(req, n).kind === 'fits')) continue;
    if (!checks.every((c) => c.filter(n).kind === 'fits')) continue;
    let total = 0;
    let tie = 0;
    for (const { plugin, weight } of policies[req.policy].scores) {
      const s = plugin.score(req, n, ctx);
      total += weight * s.score;
      tie += weight * (s.tie ?? 0);
    }
    for (const c of checks) total += 2 * c.bonus(n);
    const cand = { name: n.name, total, tie, key: n.hash };
    if (!best || better(cand, best)) best = cand;
  }
  return best?.name;
}

describe('engine properties', () => {
  it('never overcommits and every placement satisfies its constraints', () => {
    fc.assert(
      fc.property(clusterArb, workloadArb, fc.constantFrom<'auto' | PolicyName>('auto', ...POLICIES), fc.boolean(), (nodes: Node[], pending: Instance[], policy, preemption) => {
        const snap = ClusterSnapshot.from(nodes);
        const plan = createEngine({ policy, preemption, rng: createRng(3) }).schedule(snap, pending, { assume: true });
        assertNoOvercommit(snap);
        expect(plan.placements.length + plan.unplaced.length).toBe(pending.length);
        for (const u of plan.unplaced) {
          expect(u.explanation.nodes).toBe(nodes.length);
          expect(u.explanation.reasons.reduce((s, r) => s + r.count, 0)).toBe(nodes.length);
        }
        for (const v of plan.preemptions) {
          const by = plan.placements.find((p) => p.key === v.by)!;
          expect(v.priority).toBeLessThan(by.instance.spec.priority ?? 0);
          expect(v.node).toBe(by.node);
        }
        if (!preemption) for (const p of plan.placements) assertConstraints(snap, p);
      }),
      { numRuns: 300 },
    );
  });

  it('picks the node a brute-force scan would pick, placement after placement', () => {
    fc.assert(
      fc.property(clusterArb, workloadArb, (nodes: Node[], pending: Instance[]) => {
        const snap = ClusterSnapshot.from(nodes);
        const engine = createEngine({ preemption: false });
        for (const inst of pending) {
          const want = referencePick(engine, snap, inst);
          const plan = engine.schedule(snap, [inst], { assume: true });
          expect(plan.placements[0]?.node).toBe(want);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a snapshot unchanged when not assuming', () => {
    fc.assert(
      fc.property(clusterArb, workloadArb, (nodes: Node[], pending: Instance[]) => {
        const snap = ClusterSnapshot.from(nodes);
        const before = [...snap.nodes()].map((n) => [n.freeCpu, n.freeMemory, n.count, [...n.gpuFree]]);
        createEngine().schedule(snap, pending);
        expect([...snap.nodes()].map((n) => [n.freeCpu, n.freeMemory, n.count, [...n.gpuFree]])).toEqual(before);
      }),
      { numRuns: 100 },
    );
  });
});

describe('device choice', () => {
  it('best fit puts a share on the fullest device that still has room', () => {
    const snap = ClusterSnapshot.from([node('a', { gpus: 3 })], [instance('x', { node: 'a', gpu: { share: 700 }, gpuAllocation: [{ index: 1, milli: 700 }] })]);
    const d = compileRequest(instance('y', { gpu: { share: 200 } }), () => 'bestfit').demand;
    expect(bestFitDevices(snap.node('a')!, d)).toEqual([1]);
  });
});
