/**
 * Compiles an Instance into what the engine works with: its demand, parsed selectors and the
 * key of its node-local equivalence class. Pure; selectors are parsed once per distinct text.
 */
import { nodeMemoryOf, type Instance, type PolicyName } from '../../model/kinds/instance.js';
import { parseSelector, type Selector } from '../../model/labels.js';
import { MILLI } from './node-state.js';
import type { CompiledRequest, CompiledSpread, CompiledTerm, Demand, Topology, VolumeConstraint } from './types.js';

const selectorCache = new Map<string, Selector>();

/** Parses a selector, memoized (selectors repeat across replicas). Throws SelectorError. */
export function selectorOf(text: string): Selector {
  let sel = selectorCache.get(text);
  if (!sel) {
    if (selectorCache.size > 10_000) selectorCache.clear();
    sel = parseSelector(text);
    selectorCache.set(text, sel);
  }
  return sel;
}

/** "project/name" — the key of an instance everywhere in the engine. */
export function instanceKey(inst: Instance): string {
  return `${inst.metadata.project ?? ''}/${inst.metadata.name}`;
}

/** The demand of an instance in canonical units. */
export function demandOf(inst: Instance): Demand {
  const r = inst.spec.resources;
  const gpu = r?.gpu;
  let gpuCount = 0;
  let gpuMilli = 0;
  if (gpu?.share !== undefined && gpu.share > 0) {
    gpuCount = 1;
    gpuMilli = gpu.share;
  } else if ((gpu?.count ?? 0) > 0) {
    gpuCount = gpu!.count!;
    gpuMilli = MILLI;
  }
  const ports: string[] = [];
  for (const p of inst.spec.ports ?? []) if (p.publish !== undefined) ports.push(`${p.protocol ?? 'tcp'}/${p.publish}`);
  const demand: { -readonly [K in keyof Demand]: Demand[K] } = {
    cpu: r?.cpu ?? 0,
    memory: nodeMemoryOf(inst.spec), // a VM's QEMU overhead included
    disk: r?.disk ?? 0,
    gpuCount,
    gpuMilli,
    ports: ports.sort(),
  };
  if (gpuCount > 0 && gpu?.models && gpu.models.length > 0) demand.gpuModels = [...gpu.models].sort();
  return demand;
}

/** Requests that need a GPU (whole or share). */
export function wantsGpu(d: Demand): boolean {
  return d.gpuCount > 0;
}

function compileTerms(
  terms: readonly { selector: string; topology?: Topology; required?: boolean; weight?: number }[] | undefined,
): CompiledTerm[] {
  return (terms ?? []).map((t) => ({
    selectorText: t.selector,
    selector: selectorOf(t.selector),
    topology: t.topology ?? 'node',
    required: t.required ?? true,
    weight: t.weight ?? 50,
  }));
}

function compileSpread(rules: readonly { selector: string; topology: Topology; maxSkew?: number }[] | undefined): CompiledSpread[] {
  return (rules ?? []).map((s) => ({
    selectorText: s.selector,
    selector: selectorOf(s.selector),
    topology: s.topology,
    maxSkew: s.maxSkew ?? 1,
  }));
}

/**
 * Compiles `inst`. `policyFor` picks the policy when the instance names none
 * (the cluster default, which may depend on the demand).
 */
export function compileRequest(inst: Instance, policyFor: (d: Demand) => PolicyName, volume?: VolumeConstraint): CompiledRequest {
  const demand = demandOf(inst);
  const p = inst.spec.placement;
  const policy = p?.policy ?? policyFor(demand);
  const zones = p?.zones && p.zones.length > 0 ? [...p.zones].sort() : undefined;
  const shapeKey = [demand.cpu, demand.memory, demand.disk, demand.gpuCount, demand.gpuMilli, demand.gpuModels?.join('|') ?? '', policy].join('\u0001');
  const driver = `${inst.spec.driver}${inst.spec.isolation === 'none' ? '/unisolated' : ''}`;
  const staticKey = [p?.node ?? '', p?.nodeSelector ?? '', zones?.join(',') ?? '', driver, volume ? `${volume.node ?? ''}\u0003${volume.reason}` : ''].join('\u0001');
  const req: CompiledRequest = {
    key: instanceKey(inst),
    instance: inst,
    project: inst.metadata.project ?? '',
    labels: inst.metadata.labels ?? {},
    priority: inst.spec.priority ?? 0,
    demand,
    policy,
    shapeKey,
    staticKey,
    classKey: `${shapeKey}\u0002${staticKey}`,
    affinity: compileTerms(p?.affinity),
    antiAffinity: compileTerms(p?.antiAffinity),
    spread: compileSpread(p?.spread),
    ...(p?.node !== undefined ? { pin: p.node } : {}),
    ...(p?.nodeSelector ? { nodeSelectorText: p.nodeSelector, nodeSelector: selectorOf(p.nodeSelector) } : {}),
    ...(zones ? { zones: new Set(zones) } : {}),
    ...(volume ? { volume } : {}),
  };
  return req;
}

/** Total GPU demand in thousandths (2 whole GPUs → 2000, a 460 share → 460). */
export function gpuMilliTotal(d: Demand): number {
  return d.gpuCount * d.gpuMilli;
}

/** The request as its shape cache sees it: host ports are checked per request, not per shape. */
export function shapeOf(req: CompiledRequest): CompiledRequest {
  return req.demand.ports.length === 0 ? req : { ...req, demand: { ...req.demand, ports: [] } };
}
