/**
 * Every etcd request of the store goes through `EtcdCalls.run`: one deadline (requestTimeoutMs)
 * for the request and its retries, so nothing hangs; retries, on whichever member the client
 * picks next, while the deadline has not passed; and etcd's "cannot answer now" errors turned into
 * one readable StoreUnavailable that names the endpoints.
 *
 * Reads, lease keep-alives and other idempotent requests are retried on any transient error. A
 * write is retried only when it cannot have been applied (the member could not be reached, had no
 * leader, or refused it before proposing it): retrying one that may have been applied could make
 * a create that succeeded report `exists`.
 */
import { isRecoverableError } from 'etcd3';
import { isBrokenCircuitError } from 'cockatiel';
import { StoreUnavailable } from './backend.js';

/** Whether a request may be sent again after a transient error: `read` always, `write` only when it was not applied. */
export type Retry = 'read' | 'write';

/** The per-request options the etcd3 clients take. */
export interface CallOptions {
  deadline: number;
}

/** A TLS handshake that failed: retrying will not help. */
const TLS = /certificate|SSL routines|self.signed|wrong version number|handshake/i;

/** Errors after which a write was certainly not applied. */
const NOT_SENT = /No connection established|ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|etcdserver: no leader|etcdserver: too many requests|etcdserver: not capable|etcdserver: server stopped/i;

export class EtcdCalls {
  private closed = false;
  /** The last error a member gave, for a request that meets only open circuit breakers. */
  private lastReal: Error | undefined;

  constructor(private readonly hosts: readonly string[], readonly timeoutMs: number) {}

  /** Runs `fn` until it succeeds, fails for good, or the deadline passes (then StoreUnavailable). `what` completes "could not ...". */
  async run<T>(what: string, retry: Retry, fn: (options: CallOptions) => Promise<T>): Promise<T> {
    this.assertOpen();
    const deadline = Date.now() + this.timeoutMs;
    // the most telling error seen (rank), the latest of equals
    let last: Error | undefined;
    for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
      try {
        return await fn({ deadline });
      } catch (e) {
        this.assertOpen();
        const err = e as Error;
        if (!transient(err)) throw err;
        if (rank(err) > 0) this.lastReal = err;
        if (!last || rank(err) >= rank(last)) last = err;
        if (TLS.test(err.message)) throw new StoreUnavailable(`etcd at ${this.where()} refused the TLS connection (${reason(err)}): check the cacert, cert and key options`);
        if (retry === 'write' && !NOT_SENT.test(err.message) && !isBrokenCircuitError(err)) {
          const hint = rank(err) === 1 ? ': is a majority of its members up and reachable?' : '';
          throw new StoreUnavailable(`etcd at ${this.where()} failed to ${what} (${reason(err)}); the write may or may not have been applied${hint}`);
        }
        if (Date.now() + delay >= deadline) throw this.unavailable(what, last);
        await sleep(delay);
      }
    }
  }

  /** The error of a request that found no member able to answer within the deadline. */
  unavailable(what: string, err: Error): StoreUnavailable {
    const why = isBrokenCircuitError(err) && this.lastReal ? `${reason(this.lastReal)}, just before` : reason(err);
    return new StoreUnavailable(`etcd at ${this.where()} could not ${what} within ${this.timeoutMs} ms (${why}): is a majority of its members up and reachable?`);
  }

  private where(): string {
    return this.hosts.join(', ');
  }

  close(): void {
    this.closed = true;
  }

  assertOpen(): void {
    if (this.closed) throw new Error('the store is closed');
  }
}

/** etcd or the connection could not answer now; another try (maybe on another member) may. */
export function transient(err: Error): boolean {
  return isRecoverableError(err) || isBrokenCircuitError(err);
}

/** How much an error tells: etcd's own words, then the connection's, then a deadline, then a circuit breaker (which only repeats). */
function rank(err: Error): number {
  if (isBrokenCircuitError(err)) return 0;
  if (/Deadline exceeded/i.test(err.message)) return 1;
  return /etcdserver:/.test(err.message) ? 3 : 2;
}

/** The error's own words, without the client's class, gRPC's code and its resolution notes. */
export function reason(err: Error): string {
  if (isBrokenCircuitError(err)) return 'every member failed just before; each is tried again a second after';
  const m = err.message;
  const remote = /remote_addr=([^\s,)]+)/.exec(m)?.[1];
  if (/Deadline exceeded/i.test(m)) return `no answer in time${remote ? ` from ${remote}` : ''}`;
  const refused = /connect (ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT) (\S+?)\.?(\s|$)/.exec(m);
  if (refused) return `${refused[1] === 'ECONNREFUSED' ? 'connection refused' : refused[1]} by ${refused[2]}`;
  const tls = /SSL routines:[^:]*:([^:]+):/.exec(m);
  if (tls) return tls[1]!;
  return m.replace(/^[A-Za-z]+Error: /, '').replace(/^\d+ [A-Z_]+: /, '').replace(/^No connection established\. Last error: (Error: )?/, '')
    .replace(/\s*\([0-9TZ:.-]+\)\. Resolution note:.*$/s, '').replace(/\. Resolution note:.*$/s, '').trim() || err.name;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
