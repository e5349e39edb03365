/**
 * The cluster as the engine sees it: nodes with their free resources device by device, and the
 * instances bound (or assumed) on them. Built once from model objects, then kept current with
 * incremental updates (`upsertNode`, `removeNode`, `bind`, `release`) — never rebuilt.
 *
 * Every change to a node gives it a new version and appends its slot to a change log; the
 * engine's per-class caches replay that log to re-check only the nodes that changed.
 */
import type { Instance, Phase } from '../../model/kinds/instance.js';
import type { Node } from '../../model/kinds/node.js';
import { bestFitDevices, slicesOf } from './gpu.js';
import { NodeState } from './node-state.js';
import { demandOf, instanceKey, selectorOf } from './request.js';
import { TopologyIndex } from './topology.js';
import type { Allocation, CompiledTerm, PlacedInstance } from './types.js';

/** Phases in which an instance holds its node's resources. */
export const OCCUPYING_PHASES: ReadonlySet<Phase> = new Set<Phase>(['Scheduled', 'Starting', 'Running', 'Stopping', 'Off']);

/** True when `inst` is bound to a node and holds resources there. */
export function occupiesNode(inst: Instance): boolean {
  return inst.status?.node !== undefined && OCCUPYING_PHASES.has(inst.status.phase);
}

/** A stretch of a change log: the slots `entries[from]`, `entries[from + 1]`, … (with repeats). */
export interface LogView {
  readonly entries: readonly number[];
  readonly from: number;
}

export class ClusterSnapshot {
  /** Node per slot; removed nodes leave a hole (slots are never reused). */
  readonly slots: (NodeState | undefined)[] = [];
  readonly topology = new TopologyIndex((n) => this.byName.get(n)?.zone);
  private readonly byName = new Map<string, NodeState>();
  private readonly byZone = new Map<string, Set<string>>();
  private readonly records = new Map<string, PlacedInstance>();
  /** Instance keys per node name, including nodes that are not (or no longer) in the snapshot. */
  private readonly byNode = new Map<string, Set<string>>();
  private log: number[] = [];
  private logBase = 0;
  /** Slots whose Node object changed (joined, changed, left): what static verdicts depend on. */
  private identityLog: number[] = [];
  private identityBase = 0;
  private liveNodes = 0;
  /** Bumped when nodes join, leave or change what they offer (cluster-wide maxima may move). */
  capacityEpoch = 0;
  private maxima: { epoch: number; cpu: number; gpus: number } | undefined;

  /** A snapshot of `nodes` with the instances among `instances` that occupy a node. */
  static from(nodes: readonly Node[], instances: readonly Instance[] = []): ClusterSnapshot {
    const snap = new ClusterSnapshot();
    for (const n of nodes) snap.upsertNode(n);
    for (const i of instances) if (occupiesNode(i)) snap.bind(i);
    return snap;
  }

  get nodeCount(): number {
    return this.liveNodes;
  }

  /** Sequence number of the next change; see `changesSince`. */
  get seq(): number {
    return this.logBase + this.log.length;
  }

  /** Slots changed since `seq` (with repeats), or undefined when that part of the log was dropped. */
  changesSince(seq: number): readonly number[] | undefined {
    const v = this.changeLog(seq);
    return v && v.entries.slice(v.from);
  }

  /** `changesSince` without copying: the slots are `entries[from]` onwards (valid until the next change). */
  changeLog(seq: number): LogView | undefined {
    if (seq < this.logBase) return undefined;
    return { entries: this.log, from: seq - this.logBase };
  }

  /** `identityChangesSince` without copying (see `changeLog`). */
  identityChangeLog(seq: number): LogView | undefined {
    if (seq < this.identityBase) return undefined;
    return { entries: this.identityLog, from: seq - this.identityBase };
  }

  /** Like `seq`, for changes to Node objects only (not to their usage). */
  get identitySeq(): number {
    return this.identityBase + this.identityLog.length;
  }

  /** Slots whose Node object changed since `seq` (see `identitySeq`), or undefined when dropped. */
  identityChangesSince(seq: number): readonly number[] | undefined {
    const v = this.identityChangeLog(seq);
    return v && v.entries.slice(v.from);
  }

  node(name: string): NodeState | undefined {
    return this.byName.get(name);
  }

  /** Live nodes, in slot order. */
  *nodes(): IterableIterator<NodeState> {
    for (const n of this.slots) if (n) yield n;
  }

  /** Names of the live nodes in `zone`. */
  nodesInZone(zone: string): ReadonlySet<string> {
    return this.byZone.get(zone) ?? new Set();
  }

  instance(key: string): PlacedInstance | undefined {
    return this.records.get(key);
  }

  /** Keys of the instances on node `name`. */
  instancesOn(name: string): ReadonlySet<string> {
    return this.byNode.get(name) ?? new Set();
  }

  /** Largest node CPU and GPU count (for scores normalized by the biggest machine). */
  maxNode(): { cpu: number; gpus: number } {
    if (this.maxima?.epoch !== this.capacityEpoch) {
      let cpu = 0;
      let gpus = 0;
      for (const n of this.nodes()) {
        cpu = Math.max(cpu, n.cpu);
        gpus = Math.max(gpus, n.gpuCount);
      }
      this.maxima = { epoch: this.capacityEpoch, cpu, gpus };
    }
    return this.maxima;
  }

  /**
   * Adds a node or takes in a changed one. Usage is recomputed from the instances bound to it.
   * A change that cannot affect scheduling (a heartbeat, say) only swaps the object.
   */
  upsertNode(node: Node): void {
    const name = node.metadata.name;
    let state = this.byName.get(name);
    if (state && schedulingView(state.node) === schedulingView(node)) {
      state.node = node;
      return;
    }
    const oldZone = state?.zone;
    if (state) {
      this.indexZone(state, -1);
      state.load(node);
    } else {
      state = new NodeState(this.slots.length, node);
      this.slots.push(state);
      this.byName.set(name, state);
      this.liveNodes++;
    }
    this.indexZone(state, 1);
    if (oldZone !== state.zone) this.topology.moveZone(name, oldZone, state.zone);
    for (const key of this.byNode.get(name) ?? []) this.applyToNode(this.records.get(key)!, state);
    this.capacityEpoch++;
    this.pushIdentity(state.slot);
    this.changed(state);
  }

  removeNode(name: string): void {
    const state = this.byName.get(name);
    if (!state) return;
    this.indexZone(state, -1);
    this.topology.moveZone(name, state.zone, undefined);
    this.byName.delete(name);
    this.slots[state.slot] = undefined;
    this.liveNodes--;
    this.capacityEpoch++;
    state.touch();
    this.pushIdentity(state.slot);
    this.appendLog(state.slot);
  }

  /**
   * Takes in an instance's latest state: bound and occupying → recorded on its node; otherwise
   * released. Idempotent: binding an instance already recorded (or assumed) on the same node
   * refreshes the record and confirms it.
   */
  bind(inst: Instance): void {
    const key = instanceKey(inst);
    if (!occupiesNode(inst)) {
      this.release(key);
      return;
    }
    const nodeName = inst.status!.node!;
    const existing = this.records.get(key);
    const statusGpus = inst.status?.allocation?.gpus;
    if (existing && existing.node === nodeName && (!statusGpus || sameSlices(statusGpus, existing.allocation.gpus))) {
      existing.instance = inst;
      existing.assumed = false;
      return;
    }
    if (existing) this.release(key);
    this.place(recordOf(inst, nodeName, statusGpus ? { gpus: statusGpus.map((g) => ({ ...g })), hostPorts: [] } : undefined));
  }

  /** Forgets an instance (finished, deleted, or an assumption that did not commit). Returns its record. */
  release(key: string): PlacedInstance | undefined {
    const rec = this.records.get(key);
    if (!rec) return undefined;
    this.records.delete(key);
    this.byNode.get(rec.node)?.delete(key);
    const state = this.byName.get(rec.node);
    if (state) {
      state.apply(key, rec.demand, rec.allocation, -1);
      this.changed(state);
    }
    this.topology.remove(rec);
    return rec;
  }

  /** Records a placement (used by `bind` and by the engine for assumptions). */
  place(rec: PlacedInstance): void {
    if (this.records.has(rec.key)) this.release(rec.key);
    this.records.set(rec.key, rec);
    let set = this.byNode.get(rec.node);
    if (!set) this.byNode.set(rec.node, (set = new Set()));
    set.add(rec.key);
    const state = this.byName.get(rec.node);
    if (state) this.applyToNode(rec, state);
    this.topology.add(rec);
  }

  private applyToNode(rec: PlacedInstance, state: NodeState): void {
    if (rec.demand.gpuCount > 0 && rec.allocation.gpus.length === 0) {
      const devices = bestFitDevices(state, rec.demand);
      if (devices) rec.allocation.gpus = slicesOf(state, devices, rec.demand);
    }
    state.apply(rec.key, rec.demand, rec.allocation, 1);
    this.changed(state);
  }

  private changed(state: NodeState): void {
    this.appendLog(state.slot);
  }

  private appendLog(slot: number): void {
    this.log.push(slot);
    // Keep the log bounded; caches older than what is kept rebuild from scratch.
    const keep = Math.max(4096, 4 * this.slots.length);
    if (this.log.length > 2 * keep) {
      const drop = this.log.length - keep;
      this.log = this.log.slice(drop);
      this.logBase += drop;
    }
  }

  private pushIdentity(slot: number): void {
    this.identityLog.push(slot);
    const keep = Math.max(1024, this.slots.length);
    if (this.identityLog.length > 2 * keep) {
      const drop = this.identityLog.length - keep;
      this.identityLog = this.identityLog.slice(drop);
      this.identityBase += drop;
    }
  }

  private indexZone(state: NodeState, by: 1 | -1): void {
    if (state.zone === undefined) return;
    let set = this.byZone.get(state.zone);
    if (!set) this.byZone.set(state.zone, (set = new Set()));
    if (by > 0) set.add(state.name);
    else set.delete(state.name);
  }
}

/** Everything about a Node the engine reads, as one comparable string. */
function schedulingView(n: Node): string {
  const drivers = n.status?.drivers?.map((d) => [d.name, d.healthy, d.attributes ?? {}]) ?? null;
  return JSON.stringify([n.spec, n.metadata.labels ?? {}, n.status?.phase, n.status?.allocatable ?? n.status?.capacity ?? null, drivers]);
}

function sameSlices(a: readonly { index: number; milli: number }[], b: readonly { index: number; milli: number }[]): boolean {
  return a.length === b.length && a.every((s, i) => s.index === b[i]!.index && s.milli === b[i]!.milli);
}

/** Required anti-affinity terms of an instance (what it holds against newcomers). */
export function requiredAntiTerms(inst: Instance): CompiledTerm[] {
  return (inst.spec.placement?.antiAffinity ?? [])
    .filter((t) => t.required ?? true)
    .map((t) => ({ selectorText: t.selector, selector: selectorOf(t.selector), topology: t.topology ?? 'node', required: true, weight: 0 }));
}

/** A record for `inst` on `node`; GPU devices are chosen when applied if `allocation` names none. */
export function recordOf(inst: Instance, node: string, allocation?: Allocation, assumed = false): PlacedInstance {
  const demand = demandOf(inst);
  const hostPorts = (inst.spec.ports ?? []).flatMap((p) => (p.publish !== undefined ? [p.publish] : []));
  return {
    key: instanceKey(inst),
    instance: inst,
    project: inst.metadata.project ?? '',
    labels: inst.metadata.labels ?? {},
    node,
    demand,
    priority: inst.spec.priority ?? 0,
    allocation: { gpus: allocation?.gpus ?? [], hostPorts },
    antiTerms: requiredAntiTerms(inst),
    assumed,
  };
}
