/** Injected sources of time and identity, so that tests can replay a failure exactly. */
import { randomBytes, randomUUID } from 'node:crypto';

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export function isoNow(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}

export interface Ids {
  /** A unique id for an object incarnation. */
  uid(): string;
  /** `bytes` of secret randomness, base64url. */
  secret(bytes: number): string;
}

export const randomIds: Ids = {
  uid: () => randomUUID(),
  secret: (bytes) => randomBytes(bytes).toString('base64url'),
};

/** A manually advanced clock for tests. */
export class FakeClock implements Clock {
  constructor(private t = Date.parse('2026-01-01T00:00:00Z')) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Deterministic ids for tests: uid-1, uid-2, ... */
export function sequentialIds(prefix = 'uid'): Ids {
  let n = 0;
  return { uid: () => `${prefix}-${++n}`, secret: (bytes) => `s${++n}`.padEnd(Math.ceil((bytes * 4) / 3), 'x') };
}
