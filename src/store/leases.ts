/**
 * Leases, as the layers above the store use them (leader election, runtime/leader.ts): grant,
 * keep alive, revoke. A key is bound to a lease by writing it with `lease` (a TxnOp through
 * `repo.records.txn`); see backend.ts for what expiry and revocation do to such keys.
 */
import type { Backend, Lease, LeaseId } from './backend.js';

export class Leases {
  constructor(private readonly backend: Backend) {}

  /** A new lease of `ttlSeconds` (whole seconds, at least 1). */
  grant(ttlSeconds: number): Promise<Lease> {
    return this.backend.leaseGrant(ttlSeconds);
  }

  /** Starts the lease's TTL again; LeaseNotFound (store/backend.ts) once it expired or was revoked. */
  keepAlive(id: LeaseId): Promise<Lease> {
    return this.backend.leaseKeepAlive(id);
  }

  /** Ends the lease: its keys are deleted in one revision. LeaseNotFound when there is none. */
  revoke(id: LeaseId): Promise<void> {
    return this.backend.leaseRevoke(id);
  }
}
