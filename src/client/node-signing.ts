/**
 * How the API server authenticates to a node agent (for logs): an HMAC-SHA256 over the time, the
 * method and the path, keyed by the SHA-256 of the node's credential. The agent knows its
 * credential; the server keeps only its hash (never served by the API). Signatures older than
 * MAX_SKEW_MS are refused, so a captured request cannot be replayed later.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-stratus-signature';
export const MAX_SKEW_MS = 60_000;

export function sign(keyHex: string, method: string, pathAndQuery: string, now: number): string {
  const mac = createHmac('sha256', Buffer.from(keyHex, 'hex')).update(`${now}\n${method.toUpperCase()}\n${pathAndQuery}`).digest('hex');
  return `t=${now},s=${mac}`;
}

/** Why a signature is refused, or undefined when it is good. */
export function verify(keyHex: string, method: string, pathAndQuery: string, header: string | undefined, now: number): string | undefined {
  if (!header) return 'missing signature';
  const m = /^t=(\d+),s=([0-9a-f]{64})$/.exec(header);
  if (!m) return 'malformed signature';
  const t = Number(m[1]);
  if (Math.abs(now - t) > MAX_SKEW_MS) return 'signature expired (clocks more than 60 s apart?)';
  const want = sign(keyHex, method, pathAndQuery, t).slice(-64);
  return timingSafeEqual(Buffer.from(want, 'hex'), Buffer.from(m[2]!, 'hex')) ? undefined : 'bad signature';
}
