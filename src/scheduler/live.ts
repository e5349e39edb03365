/**
 * The live scheduler: keeps a ClusterSnapshot current from the shared informers (built once from
 * their caches at start, then changed by their add/update/delete, also after they list again) and
 * feeds pending instances to the engine in batches.
 *
 *   nodes informer ─────┐
 *   instances informer ─┼─▶ snapshot + pending queue ─▶ engine.schedule ─▶ applier (CAS) ─▶ store
 *   ledger informer ────┤                                    │
 *   volumes informer ───┘                                    └─▶ explanations, events
 *   (volume-locator.ts: where instances' volumes let them run)
 *
 * New pending instances are scheduled at once. Instances that fit nowhere are retried when
 * capacity changes (a node joins or changes, an instance frees its node) or every `retryMs`.
 */
import type { Repository } from '../store/repository.js';
import type { KeyValue } from '../store/backend.js';
import type { Subscription } from '../runtime/informer.js';
import { Informers } from '../runtime/informers.js';
import { instanceKind, nodeKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Node } from '../model/kinds/node.js';
import { isPending } from '../model/lifecycle.js';
import type { Component } from '../runtime/component.js';
import type { EventRecorder } from '../runtime/events.js';
import { BestEffort } from '../runtime/best-effort.js';
import { Engine } from './engine/engine.js';
import { ClusterSnapshot, occupiesNode } from './engine/snapshot.js';
import { instanceKey } from './engine/request.js';
import type { Placement, Plan, PolicyChoice } from './engine/types.js';
import { PlanApplier } from './applier.js';
import { VolumeLocator } from './volume-locator.js';
import { ledgerKeys } from '../model/keyspace.js';
import type { SchedulerObserver } from '../runtime/observers.js';

export interface SchedulerOptions {
  /** Shown in ledger entries and events. */
  name?: string;
  policy?: PolicyChoice;
  batchSize?: number;
  retryMs?: number;
  /** The server's shared informers (default: the scheduler's own). */
  informers?: Informers;
  /** Told of every round: attempts, outcomes, latency (the server's /metrics). */
  observer?: SchedulerObserver;
}

export interface SchedulerStats {
  bound: number;
  conflicts: number;
  rounds: number;
}

export class Scheduler implements Component {
  readonly name = 'scheduler';
  readonly stats: SchedulerStats = { bound: 0, conflicts: 0, rounds: 0 };
  private snap = new ClusterSnapshot();
  private readonly engine: Engine;
  private readonly applier: PlanApplier;
  private readonly pending = new Map<string, Instance>();
  /** Keys that fit nowhere at the last try; retried when capacity changes. */
  private readonly waiting = new Set<string>();
  /**
   * Pending and not waiting (new, or to try again): what a round takes when capacity did not
   * change, without scanning every pending instance (thousands waiting for capacity made each new
   * one cost a scan of them all).
   */
  private readonly fresh = new Set<string>();
  private subs: Subscription[] = [];
  private readonly informers: Informers;
  /** Where instances' volumes let them run. */
  private readonly volumes: VolumeLocator;
  private running = false;
  private capacityChanged = true;
  private lastRetry = 0;
  private wakeUp: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private lastError = '';
  private readonly noteError = (e: Error) => void (this.lastError = e.message);
  /** Pending explanations: a few writes at a time (a new leader explains every pending instance at once). */
  private readonly explaining = new BestEffort(8, 10_000);

  constructor(private readonly repo: Repository, private readonly events: EventRecorder, private readonly opts: SchedulerOptions = {}) {
    this.informers = opts.informers ?? new Informers(repo);
    this.volumes = new VolumeLocator(this.informers);
    this.engine = new Engine({ policy: opts.policy ?? 'auto', volumes: this.volumes.locate });
    this.applier = new PlanApplier(repo, opts.name ?? 'scheduler');
  }

  async start(): Promise<void> {
    await this.load();
    this.running = true;
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const s of this.subs) s.close();
    this.subs = [];
    this.wake();
    await this.loopDone;
  }

  health(): string {
    return this.lastError;
  }

  /**
   * Subscribes to nodes, instances and the ledger, then builds the snapshot from the informers'
   * caches in one synchronous step: every change after it reaches the handlers, none before it
   * is missed. (After a resync the informers hand over the differences as changes.)
   */
  private async load(): Promise<void> {
    const nodes = this.informers.of<Node>(nodeKind);
    const instances = this.informers.of<Instance>(instanceKind);
    const ledger = this.informers.records(ledgerKeys.prefix);
    this.subs = [
      await nodes.use({ add: (n) => this.onNode(n, false), update: (_o, n) => this.onNode(n, false), delete: (n) => this.onNode(n, true) }, { replay: false }),
      await instances.use({ add: (i) => this.onInstance(i, false), update: (_o, i) => this.onInstance(i, false), delete: (i) => this.onInstance(i, true) }, { replay: false }),
      await ledger.use({ add: (kv) => this.onLedger(kv, false), update: (_o, kv) => this.onLedger(kv, false), delete: (kv) => this.onLedger(kv, true) }, { replay: false }),
      // a volume that gets a node (or is freed) may let waiting instances in
      ...(await this.volumes.start(() => {
        this.capacityChanged = true;
        this.wake();
      })),
    ];
    const all = [...instances.items.values()];
    this.snap = ClusterSnapshot.from([...nodes.items.values()], all);
    this.pending.clear();
    this.waiting.clear();
    this.fresh.clear();
    for (const i of all) if (isPending(i)) this.pending.set(instanceKey(i), i);
    this.applier.ledger.clear();
    for (const kv of ledger.items.values()) this.onLedger(kv, false);
    this.capacityChanged = true;
    this.wake();
  }

  private onLedger(kv: KeyValue, deleted: boolean): void {
    this.applier.ledger.set(ledgerKeys.nodeOf(kv.key), deleted ? 0 : kv.modRevision);
  }

  private onNode(node: Node, deleted: boolean): void {
    if (deleted) this.snap.removeNode(node.metadata.name);
    else this.snap.upsertNode(node);
    this.capacityChanged = true;
    this.wake();
  }

  private onInstance(inst: Instance, deleted: boolean): void {
    const key = instanceKey(inst);
    if (deleted || !occupiesNode(inst)) {
      if (this.snap.release(key)) this.capacityChanged = true;
    } else {
      this.snap.bind(inst);
    }
    if (!deleted && isPending(inst)) {
      if (!this.pending.has(key)) {
        this.waiting.delete(key);
        this.fresh.add(key);
      }
      this.pending.set(key, inst);
    } else {
      this.drop(key);
    }
    this.wake();
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  private async loop(): Promise<void> {
    const retryMs = this.opts.retryMs ?? 5000;
    while (this.running) {
      const now = this.repo.clock.now();
      if (now - this.lastRetry >= retryMs) this.capacityChanged = true;
      const batch = this.nextBatch();
      if (batch.length === 0) {
        await new Promise<void>((resolve) => {
          this.wakeUp = resolve;
          setTimeout(resolve, retryMs).unref();
        });
        continue;
      }
      const started = performance.now();
      const before = { bound: this.stats.bound, conflicts: this.stats.conflicts };
      const observe = (unschedulable: number, error?: boolean) => this.opts.observer?.round({
        seconds: (performance.now() - started) / 1000, attempted: batch.length, unschedulable,
        bound: this.stats.bound - before.bound, conflicts: this.stats.conflicts - before.conflicts, ...(error ? { error } : {}),
      });
      try {
        observe(await this.round(batch));
        this.lastError = '';
      } catch (e) {
        observe(0, true);
        this.lastError = (e as Error).message;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** New pending instances, plus the waiting ones when capacity changed. */
  private nextBatch(): Instance[] {
    const retry = this.capacityChanged;
    if (retry) {
      this.capacityChanged = false;
      this.lastRetry = this.repo.clock.now();
    }
    const out: Instance[] = [];
    const size = this.opts.batchSize ?? 2000;
    if (retry) {
      for (const inst of this.pending.values()) {
        out.push(inst);
        if (out.length >= size) break;
      }
      return out;
    }
    for (const key of this.fresh) {
      const inst = this.pending.get(key);
      if (!inst || this.waiting.has(key)) {
        this.fresh.delete(key);
        continue;
      }
      out.push(inst);
      if (out.length >= size) break;
    }
    return out;
  }

  /** Plans a batch with placements assumed into the snapshot, then commits node by node; returns how many fit nowhere. */
  private async round(batch: Instance[]): Promise<number> {
    this.stats.rounds++;
    const plan = this.engine.schedule(this.snap, batch, { assume: true });
    const byKey = new Map(batch.map((i) => [instanceKey(i), i]));
    await this.applyPreemptions(plan, byKey);
    const perNode = new Map<string, Placement[]>();
    for (const p of plan.placements) {
      if (p.preempts.length > 0) continue;
      perNode.set(p.node, [...(perNode.get(p.node) ?? []), p]);
    }
    await Promise.all([...perNode.values()].map((ps) => this.bindNode(ps, byKey)));
    for (const u of plan.unplaced) {
      this.markWaiting(u.key);
      const reason = u.explanation.nodes === 0 ? 'NoNodes' : 'Unschedulable';
      // best effort (the next pass writes it again): a store failure must not end the server
      void this.explaining.offer(() => this.applier.explainPending(u.instance, reason, u.message, u.explanation.nodes, u.explanation.reasons), this.noteError);
      void this.events.record(target(u.instance), 'Warning', 'FailedScheduling', u.message);
    }
    return plan.unplaced.length;
  }

  /**
   * Binds one node's placements, each re-checked against the snapshot: all in one commit (one
   * fsync for the lot), or, when that commit is refused, one by one, re-checked again before
   * each, so that each gets its own outcome.
   */
  private async bindNode(ps: Placement[], byKey: Map<string, Instance>): Promise<void> {
    const fitting = ps.filter((p) => this.stillFits(p, byKey));
    if (fitting.length > 1) {
      const all = await this.applier.bindAll(fitting[0]!.node, fitting.map((p) => ({ planned: byKey.get(p.key)!, placement: p })));
      if (all.outcome === 'bound') {
        fitting.forEach((p, i) => this.bound(p, byKey.get(p.key)!, all.instances[i]!));
        return;
      }
    }
    // Checked just above unless a commit has been awaited since (the snapshot may have moved).
    let fresh = fitting.length === 1;
    for (const p of fitting) {
      if (!fresh && !this.stillFits(p, byKey)) continue;
      fresh = false;
      const inst = byKey.get(p.key)!;
      const result = await this.applier.bind(inst, p);
      if (result.outcome === 'bound') this.bound(p, inst, result.instance!);
      else this.refused(p.key, result.outcome);
    }
  }

  /** Whether a planned placement still fits the snapshot; one that does not is dropped as a conflict. */
  private stillFits(p: Placement, byKey: Map<string, Instance>): boolean {
    if (this.engine.fits(this.snap, p.node, byKey.get(p.key)!, p.allocation).kind === 'fits') return true;
    this.refused(p.key, 'conflict');
    return false;
  }

  private bound(p: Placement, planned: Instance, instance: Instance): void {
    this.stats.bound++;
    this.drop(p.key);
    this.snap.bind(instance);
    void this.events.record(target(planned), 'Normal', 'Scheduled', `assigned to node ${p.node} (score ${Math.round(p.score)})`);
  }

  private refused(key: string, outcome: 'conflict' | 'gone'): void {
    this.forget(key);
    if (outcome === 'gone') this.drop(key);
    else {
      this.stats.conflicts++;
      this.capacityChanged = true;
    }
  }

  /**
   * Drops a placement this scheduler assumed but did not commit. A record the watch has since
   * replaced with a real binding (by another scheduler, say) is the truth and stays.
   */
  /** No longer pending (bound, finished, gone): out of every set the rounds draw from. */
  private drop(key: string): void {
    this.pending.delete(key);
    this.waiting.delete(key);
    this.fresh.delete(key);
  }

  /** Pending, and tried again only when capacity changes. */
  private markWaiting(key: string): void {
    this.waiting.add(key);
    this.fresh.delete(key);
  }

  private forget(key: string): void {
    if (this.snap.instance(key)?.assumed) this.snap.release(key);
  }

  private async applyPreemptions(plan: Plan, byKey: Map<string, Instance>): Promise<void> {
    for (const pre of plan.preemptions) {
      const by = byKey.get(pre.by);
      const ok = await this.applier.evict(pre.victim, pre, by?.spec.priority ?? 0);
      if (ok) void this.events.record(target(pre.victim), 'Warning', 'Preempted', `${pre.reason} (node ${pre.node})`);
    }
    for (const p of plan.placements) {
      if (p.preempts.length === 0) continue;
      const inst = byKey.get(p.key)!;
      this.forget(p.key);
      this.markWaiting(p.key);
      const message = `waiting for ${p.preempts.length} lower-priority instance(s) preempted on node ${p.node} to stop (score ${Math.round(p.score)})`;
      void this.explaining.offer(() => this.applier.explainPending(inst, 'Preempting', message, this.snap.nodeCount, []), this.noteError);
      void this.events.record(target(inst), 'Normal', 'Preempting', message);
    }
  }
}

function target(i: Instance) {
  return { kind: 'instance', name: i.metadata.name, project: i.metadata.project };
}
