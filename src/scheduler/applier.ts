/**
 * The plan applier: commits what the engine planned, re-checking each placement at commit time.
 *
 * The bindings of one node are one store transaction:
 *   put instance (status Scheduled on node N)   expecting the instance's revision as planned (each)
 *   put /scheduler/ledger/N (ledgerKeys)         expecting the ledger revision the snapshot saw
 * The instance CAS stops two schedulers from binding the same instance; the ledger CAS stops
 * two schedulers from each adding a different instance to the same node on the strength of the
 * same free capacity. A refused group is bound again one instance at a time, so that each gets its
 * own outcome; a refused binding is retried by the loop once its snapshot has caught up.
 * Releasing capacity never needs the ledger: a stale view only under-estimates what is free.
 */
import type { Repository } from '../store/repository.js';
import type { TxnOp } from '../store/backend.js';
import { TxnConflict } from '../store/backend.js';
import { instanceKind } from '../model/kinds/index.js';
import type { Instance, InstanceStatus } from '../model/kinds/instance.js';
import { isoNow } from '../model/runtime.js';
import { ledgerKeys } from '../model/keyspace.js';
import type { Placement, Preemption } from './engine/types.js';

export type BindOutcome = 'bound' | 'conflict' | 'gone';

export class PlanApplier {
  /** Ledger revision per node, as the watch last saw it (0: never written). */
  readonly ledger = new Map<string, number>();

  constructor(private readonly repo: Repository, private readonly scheduler: string) {}

  /** Commits one placement. `planned` is the instance as the engine saw it. */
  async bind(planned: Instance, p: Placement): Promise<{ outcome: BindOutcome; instance?: Instance; revision?: number }> {
    const ledgerKey = ledgerKeys.key(p.node);
    try {
      const { instances, revision } = await this.commit(p.node, [{ planned, placement: p }]);
      return { outcome: 'bound', instance: instances[0], revision };
    } catch (e) {
      if (!(e instanceof TxnConflict)) throw e;
      return { outcome: e.key === ledgerKey || e.actual !== undefined ? 'conflict' : 'gone' };
    }
  }

  /**
   * Commits several placements on one node in one transaction (each instance at its planned
   * revision, the node's ledger once): all bound, or none ('refused': bind them one by one to
   * learn each one's outcome).
   */
  async bindAll(node: string, group: { planned: Instance; placement: Placement }[]): Promise<{ outcome: 'bound'; instances: Instance[]; revision: number } | { outcome: 'refused' }> {
    try {
      return { outcome: 'bound', ...(await this.commit(node, group)) };
    } catch (e) {
      if (!(e instanceof TxnConflict)) throw e;
      return { outcome: 'refused' };
    }
  }

  /** One transaction: the instances bound to `node`, and its ledger entry. Throws TxnConflict. */
  private async commit(node: string, group: { planned: Instance; placement: Placement }[]): Promise<{ instances: Instance[]; revision: number }> {
    const at = isoNow(this.repo.clock);
    const instances = group.map(({ planned, placement }) => boundTo(planned, placement, at));
    const last = group.at(-1)!.planned;
    const ops: TxnOp[] = [
      ...instances.map((next, i) => this.instanceOp(next, group[i]!.planned.metadata.revision)),
      { op: 'put', key: ledgerKeys.key(node), value: JSON.stringify({ last: `${last.metadata.project}/${last.metadata.name}`, by: this.scheduler, at }), expectRevision: this.ledger.get(node) ?? 0 },
    ];
    const { revision } = await this.repo.records.txn(ops);
    this.ledger.set(node, revision);
    for (const next of instances) next.metadata.revision = revision;
    return { instances, revision };
  }

  /** Asks a victim to stop (its agent stops it and releases it). */
  async evict(victim: Instance, pre: Preemption, byPriority: number): Promise<boolean> {
    const updated = await this.repo.update<Instance>(instanceKind, victim.metadata.name, victim.metadata.project, (cur) => {
      if (cur.status?.node !== pre.node || cur.status.phase === 'Stopping') return undefined;
      return { ...cur, status: { ...cur.status!, phase: 'Stopping', reason: 'Preempted', message: `preempted by ${pre.by} (priority ${byPriority} > ${pre.priority}) on node ${pre.node}` } };
    }).catch(() => undefined);
    return updated?.status?.phase === 'Stopping';
  }

  /** Writes why an instance is still pending, if that changed (or every `refreshMs`). */
  async explainPending(inst: Instance, reason: string, message: string, nodes: number, reasons: { reason: string; count: number }[], refreshMs = 60_000): Promise<void> {
    const s = inst.status;
    const same = s?.reason === reason && s.message === message && JSON.stringify(s.explanation?.reasons) === JSON.stringify(reasons)
      && s.explanation !== undefined && this.repo.clock.now() - Date.parse(s.explanation.at) < refreshMs;
    if (same) return;
    const at = isoNow(this.repo.clock);
    const status: InstanceStatus = {
      ...keep(s),
      phase: 'Pending',
      reason,
      message,
      explanation: { nodes, reasons, at },
      conditions: [{ type: 'Scheduled', status: 'False', reason, message, lastTransitionTime: at }],
    };
    try {
      await this.repo.records.txn([this.instanceOp({ ...inst, metadata: { ...inst.metadata, updatedAt: at }, status }, inst.metadata.revision)]);
    } catch (e) {
      if (!(e instanceof TxnConflict)) throw e;
    }
  }

  private instanceOp(obj: Instance, expectRevision: number): TxnOp {
    return this.repo.putOp(instanceKind, obj, expectRevision);
  }
}

/** The instance as bound to the placement's node at `at`. */
function boundTo(planned: Instance, p: Placement, at: string): Instance {
  const status: InstanceStatus = {
    ...keep(planned.status),
    phase: 'Scheduled',
    reason: 'Scheduled',
    message: `assigned to node ${p.node} (score ${p.score})`,
    node: p.node,
    scheduledAt: at,
    score: Math.round(p.score),
    allocation: {
      ...(p.allocation.gpus.length > 0 ? { gpus: p.allocation.gpus } : {}),
      ...(p.allocation.hostPorts.length > 0 ? { hostPorts: p.allocation.hostPorts } : {}),
    },
    conditions: [{ type: 'Scheduled', status: 'True', reason: 'Scheduled', message: `node ${p.node}`, lastTransitionTime: at }],
  };
  return { ...planned, metadata: { ...planned.metadata, updatedAt: at }, status };
}

/** Status fields that survive (re)scheduling. */
function keep(s: InstanceStatus | undefined): Partial<InstanceStatus> {
  if (!s) return {};
  return {
    ...(s.restarts !== undefined ? { restarts: s.restarts } : {}),
    ...(s.observedGeneration !== undefined ? { observedGeneration: s.observedGeneration } : {}),
    ...(s.ip !== undefined ? { ip: s.ip } : {}),
  };
}
