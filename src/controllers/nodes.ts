/**
 * Node lifecycle controller (level triggered, runs on the leader).
 *
 * Every tick it reads nodes and instances and closes the gaps:
 * - a node whose agent has not reported for `heartbeatTimeoutMs` is marked Down, and every
 *   instance bound to it is released: Pending again (restart always) or Lost;
 * - on a draining node, running instances are asked to stop (phase Stopping, reason Drained), a
 *   service's replicas a few at a time within its disruption budget (drain.ts); the agent stops
 *   each within its grace period and releases it; once nothing is left the node is Drained
 *   (`draining` cleared, annotated stratus.io/drained-at; it stays cordoned);
 * - a Down node that reports again is Ready once more (the agent's next heartbeat says so);
 * - instances bound to a node that is deleted (--force) are released too, even if its agent
 *   registered it again meanwhile (those placed before the delete was seen), and so are, at
 *   start, those bound to a node that does not exist.
 * Nodes that never reported a heartbeat (registered by hand) are left alone.
 *
 * Grace on start: the controller cannot tell a dead node from one whose heartbeats went unheard
 * while the control plane was down, so when it starts (a restart, or a new leader taking over)
 * its own start time counts as the last heartbeat of every node (Kubernetes' node-monitor grace
 * period): no node is Down before it has had `heartbeatTimeoutMs` to report.
 *
 * Nodes are read from the shared node informer (runtime/informers.ts), so a tick with nothing to
 * do costs a pass over its cache; instances are read only when some node is late, down or draining.
 */
import type { Repository } from '../store/repository.js';
import { Informers } from '../runtime/informers.js';
import type { Subscription } from '../runtime/informer.js';
import { instanceKind, nodeKind, serviceKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import { DRAINED_ANNOTATION, type Node } from '../model/kinds/node.js';
import { SERVICE_LABEL, type Service } from '../model/kinds/service.js';
import { planDrain } from './drain.js';
import { FINISHED, release } from '../model/lifecycle.js';
import { isoNow } from '../model/runtime.js';
import { every, type Component } from '../runtime/component.js';
import type { EventRecorder } from '../runtime/events.js';

export interface NodeControllerOptions {
  heartbeatTimeoutMs: number;
  intervalMs?: number;
  /** The server's shared informers (default: this controller's own). */
  informers?: Informers;
}

export class NodeController implements Component {
  readonly name = 'node-controller';
  private loop?: { stop(): void };
  private lastError = '';
  /** Down nodes with nothing left bound to them: nothing to do until the node changes. */
  private readonly settled = new Set<string>();
  /** Look for instances bound to nodes that do not exist (on start, after a resync). */
  private orphansMayExist = true;
  /** Deleted nodes, with when the delete was seen: what was placed on them by then is released. */
  private readonly deleted = new Map<string, number>();
  /** Per draining node, what its last pass said waits for a disruption budget. */
  private readonly drainWaits = new Map<string, string>();
  /** When this controller began watching: the earliest "last heartbeat" it assumes. */
  private watchingSince?: number;
  private sub?: Subscription;
  private readonly informers: Informers;

  constructor(private readonly repo: Repository, private readonly events: EventRecorder, private readonly opts: NodeControllerOptions) {
    this.informers = opts.informers ?? new Informers(repo);
  }

  /** The nodes, by name (the informer's cache). */
  private get nodes(): ReadonlyMap<string, Node> {
    return this.informers.of<Node>(nodeKind).items;
  }

  async start(): Promise<void> {
    await this.load();
    this.loop = every(this.opts.intervalMs ?? 1000, () => this.tick(), (e) => {
      this.lastError = (e as Error).message;
    });
  }

  async stop(): Promise<void> {
    this.loop?.stop();
    this.sub?.close();
    this.sub = undefined;
  }

  /** Subscribes to the node informer: a node that changes is looked at again, a deleted one releases what it held. */
  private async load(): Promise<void> {
    const changed = (n: Node) => this.settled.delete(n.metadata.name);
    this.sub = await this.informers.of<Node>(nodeKind).use({
      add: changed,
      update: (_old, n) => changed(n),
      delete: (n) => {
        changed(n);
        this.deleted.set(n.metadata.name, this.repo.clock.now());
      },
      // listed again after a gap: instances may be bound to nodes deleted meanwhile
      resync: () => void (this.orphansMayExist = true),
    }, { replay: false });
    this.watchingSince ??= this.repo.clock.now();
    this.orphansMayExist = true;
  }

  health(): string {
    return this.lastError;
  }

  /** One pass over all nodes. Exposed for tests. */
  async tick(): Promise<void> {
    if (!this.sub) await this.load();
    const now = this.repo.clock.now();
    const since = this.watchingSince ?? now;
    const work = [...this.nodes.values()].map((node) => {
      const beat = node.status?.lastHeartbeat ? Date.parse(node.status.lastHeartbeat) : undefined;
      const late = beat !== undefined && now - Math.max(beat, since) > this.opts.heartbeatTimeoutMs;
      return { node, late, silentMs: beat === undefined ? 0 : now - beat };
    }).filter((w) => !this.settled.has(w.node.metadata.name) && (w.late || w.node.status?.phase === 'Down' || w.node.spec.draining));
    if (work.length === 0 && !this.orphansMayExist && this.deleted.size === 0) {
      this.lastError = '';
      return;
    }
    const bound = await this.boundInstances();
    await this.releaseOrphans(bound);
    for (const { node, late, silentMs } of work) {
      const name = node.metadata.name;
      if (late && node.status?.phase !== 'Down') await this.markDown(node, silentMs);
      if (late || node.status?.phase === 'Down') {
        await this.releaseAll(name, bound.get(name) ?? []);
        if (node.status?.phase === 'Down') this.settled.add(name);
      }
      else if (node.spec.draining) await this.drain(node, bound);
    }
    this.lastError = '';
  }

  private async boundInstances(): Promise<Map<string, Instance[]>> {
    const out = new Map<string, Instance[]>();
    const { items } = await this.repo.list<Instance>(instanceKind, { filter: (o) => (o as Instance).status?.node !== undefined && !FINISHED.has((o as Instance).status!.phase) });
    for (const i of items) {
      const n = i.status!.node!;
      out.set(n, [...(out.get(n) ?? []), i]);
    }
    return out;
  }

  /** Instances bound to nodes that were deleted (or are missing at start): released as if their node were Down. */
  private async releaseOrphans(bound: Map<string, Instance[]>): Promise<void> {
    const deleted = [...this.deleted];
    this.deleted.clear();
    const missing = this.orphansMayExist ? [...bound.keys()].filter((n) => !this.nodes.has(n) && !deleted.some(([d]) => d === n)) : [];
    this.orphansMayExist = false;
    try {
      for (const [name, seenAt] of deleted) {
        const placedBefore = (bound.get(name) ?? []).filter((i) => !i.status?.scheduledAt || Date.parse(i.status.scheduledAt) <= seenAt);
        await this.releaseAll(name, placedBefore, `node ${name} was deleted`);
      }
      for (const name of missing) await this.releaseAll(name, bound.get(name) ?? [], `node ${name} was deleted`);
    } catch (e) {
      for (const [name, seenAt] of deleted) this.deleted.set(name, seenAt);
      this.orphansMayExist ||= missing.length > 0;
      throw e;
    }
  }

  private async markDown(node: Node, silentMs: number): Promise<void> {
    const at = isoNow(this.repo.clock);
    const message = `no heartbeat for ${Math.round(silentMs / 1000)} s (timeout ${Math.round(this.opts.heartbeatTimeoutMs / 1000)} s)`;
    await this.repo.update<Node>(nodeKind, node.metadata.name, undefined, (n) => ({
      ...n,
      status: {
        ...(n.status ?? { phase: 'Down' }),
        phase: 'Down',
        message,
        conditions: [{ type: 'Ready', status: 'False', reason: 'NodeLost', message, lastTransitionTime: at }],
      },
    }));
    await this.events.record({ kind: 'node', name: node.metadata.name }, 'Warning', 'NodeLost', `node ${node.metadata.name} is Down: ${message}; its instances are being moved`);
  }

  private async releaseAll(node: string, instances: Instance[], message = `node ${node} is Down`): Promise<void> {
    for (const i of instances) {
      const at = isoNow(this.repo.clock);
      const done = await this.repo.update<Instance>(instanceKind, i.metadata.name, i.metadata.project, (cur) => {
        if (cur.status?.node !== node || FINISHED.has(cur.status.phase)) return undefined;
        return { ...cur, status: release(cur, 'NodeLost', cur.spec.restartPolicy === 'always' ? `${message}; placing it again` : message, 'Lost', at) };
      });
      if (done && done.status?.node !== node) {
        await this.events.record({ kind: 'instance', name: i.metadata.name, project: i.metadata.project }, 'Warning', 'NodeLost', `${message}; rescheduling (restart policy always)`);
      } else if (done) {
        await this.events.record({ kind: 'instance', name: i.metadata.name, project: i.metadata.project }, 'Warning', 'Lost', `${message}; restart policy ${i.spec.restartPolicy} keeps it Lost`);
      }
    }
  }

  /** One drain pass: stop what the budgets allow, say what waits, and mark the node Drained once empty. */
  private async drain(n: Node, bound: Map<string, Instance[]>): Promise<void> {
    const node = n.metadata.name;
    const instances = bound.get(node) ?? [];
    if (instances.length === 0) return this.markDrained(n);
    const all = [...bound.values()].flat();
    const replicasOf = (project: string, service: string) => all.filter((i) => i.metadata.project === project && i.metadata.labels?.[SERVICE_LABEL] === service);
    const deadline = n.spec.drainDeadline ? Date.parse(n.spec.drainDeadline) : Number.POSITIVE_INFINITY;
    const pending = instances.filter((i) => i.status?.phase !== 'Stopping');
    const plan = planDrain(pending, replicasOf, await this.servicesOf(pending), this.repo.clock.now() >= deadline);
    // Said once per reason, not once a second.
    const why = plan.waiting.map((w) => w.why).join('; ');
    if (why && this.drainWaits.get(node) !== why) await this.events.record({ kind: 'node', name: node }, 'Normal', 'DrainWaiting', why);
    this.drainWaits.set(node, why);
    for (const i of plan.stop) {
      await this.repo.update<Instance>(instanceKind, i.metadata.name, i.metadata.project, (cur) => {
        if (cur.status?.node !== node || FINISHED.has(cur.status.phase) || cur.status.phase === 'Stopping') return undefined;
        return { ...cur, status: { ...cur.status, phase: 'Stopping', reason: 'Drained', message: `node ${node} is draining; stopping within ${cur.spec.gracePeriod} s` } };
      });
      await this.events.record({ kind: 'instance', name: i.metadata.name, project: i.metadata.project }, 'Normal', 'Draining', `node ${node} is draining; moving the instance`);
    }
  }

  /** The services of `instances`, by project/name. */
  private async servicesOf(instances: Instance[]): Promise<Map<string, Service>> {
    const out = new Map<string, Service>();
    for (const project of new Set(instances.filter((i) => i.metadata.labels?.[SERVICE_LABEL]).map((i) => i.metadata.project!))) {
      for (const s of (await this.repo.list<Service>(serviceKind, { project })).items) out.set(`${project}/${s.metadata.name}`, s);
    }
    return out;
  }

  private async markDrained(n: Node): Promise<void> {
    const at = isoNow(this.repo.clock);
    this.drainWaits.delete(n.metadata.name);
    let changed = false;
    await this.repo.update<Node>(nodeKind, n.metadata.name, undefined, (cur) => {
      if (!cur.spec.draining) return undefined;
      const { draining: _d, drainDeadline: _dl, ...spec } = cur.spec;
      changed = true;
      return { ...cur, metadata: { ...cur.metadata, annotations: { ...cur.metadata.annotations, [DRAINED_ANNOTATION]: at } }, spec };
    });
    if (changed) await this.events.record({ kind: 'node', name: n.metadata.name }, 'Normal', 'Drained', `node ${n.metadata.name} is drained: no instances left; it stays cordoned (stratus node uncordon ${n.metadata.name})`);
  }
}
