/**
 * What the control plane's loops tell whoever measures them (the server's /metrics,
 * src/server/metrics.ts), as small interfaces: the scheduler and the work queues call them and
 * import no metrics library. Every method is cheap, synchronous and must not throw.
 */

/** One scheduling round of a batch of pending instances. */
export interface SchedulingRound {
  /** Wall time of the round (plan and commits), seconds. */
  seconds: number;
  /** Instances the round tried to place. */
  attempted: number;
  /** Bound to a node by this round. */
  bound: number;
  /** Fitting nowhere (left pending). */
  unschedulable: number;
  /** Placements refused at commit (the snapshot moved): tried again. */
  conflicts: number;
  /** The round failed (a store error): none of the above is known. */
  error?: boolean;
}

export interface SchedulerObserver {
  round(r: SchedulingRound): void;
}

export interface QueueObserver {
  /** A work queue named `name` exists; `depth()` reads its waiting keys (at scrape time). Returns the unregister function. */
  queue(name: string, depth: () => number): () => void;
  /** One reconcile of a key of queue `name` took `seconds`; `ok` false when it threw. */
  reconciled(name: string, seconds: number, ok: boolean): void;
}
