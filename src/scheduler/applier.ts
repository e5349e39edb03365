/**
 * The plan applier: commits what the engine planned, re-checking each placement at commit time.
 *
 * A binding is one store transaction:
 *   put instance (status Scheduled on node N)   expecting the instance's revision as planned
 *   put /scheduler/ledger/N                      expecting the ledger revision the snapshot saw
 * The instance CAS stops two schedulers from binding the same instance; the ledger CAS stops
 * two schedulers from each adding a different instance to the same node on the strength of the
 * same free capacity. A refused binding is retried by the loop once its snapshot has caught up.
 * Releasing capacity never needs the ledger: a stale view only under-estimates what is free.
 */
import type { Repository } from '../store/repository.js';
import type { TxnOp } from '../store/backend.js';
import { TxnConflict } from '../store/backend.js';
import { instanceKind } from '../model/kinds/index.js';
import type { Instance, InstanceStatus } from '../model/kinds/instance.js';
import { isoNow } from '../model/runtime.js';
import type { Placement, Preemption } from './engine/types.js';

export const LEDGER_PREFIX = '/scheduler/ledger/';

export type BindOutcome = 'bound' | 'conflict' | 'gone';

export class PlanApplier {
  /** Ledger revision per node, as the watch last saw it (0: never written). */
  readonly ledger = new Map<string, number>();

  constructor(private readonly repo: Repository, private readonly scheduler: string) {}

  /** Commits one placement. `planned` is the instance as the engine saw it. */
  async bind(planned: Instance, p: Placement): Promise<{ outcome: BindOutcome; instance?: Instance; revision?: number }> {
    const at = isoNow(this.repo.clock);
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
    const next = { ...planned, metadata: { ...planned.metadata, updatedAt: at }, status };
    const ledgerKey = LEDGER_PREFIX + p.node;
    const ops: TxnOp[] = [
      this.instanceOp(next, planned.metadata.revision),
      { op: 'put', key: ledgerKey, value: JSON.stringify({ last: `${planned.metadata.project}/${planned.metadata.name}`, by: this.scheduler, at }), expectRevision: this.ledger.get(p.node) ?? 0 },
    ];
    try {
      const { revision } = await this.repo.backend.txn(ops);
      this.ledger.set(p.node, revision);
      next.metadata.revision = revision;
      return { outcome: 'bound', instance: next, revision };
    } catch (e) {
      if (!(e instanceof TxnConflict)) throw e;
      return { outcome: e.key === ledgerKey || e.actual !== undefined ? 'conflict' : 'gone' };
    }
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
      await this.repo.backend.txn([this.instanceOp({ ...inst, metadata: { ...inst.metadata, updatedAt: at }, status }, inst.metadata.revision)]);
    } catch (e) {
      if (!(e instanceof TxnConflict)) throw e;
    }
  }

  private instanceOp(obj: Instance, expectRevision: number): TxnOp {
    return this.repo.putOp(instanceKind, obj, expectRevision);
  }
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
