/**
 * The scrape secret of `--metrics-token-file` (server and agent): a bearer token that may read
 * /metrics and nothing else, compared in constant time.
 */
import { readFileSync } from 'node:fs';
import { createHash, timingSafeEqual } from 'node:crypto';

/** A scrape secret: read from its file (trimmed), refused when empty or too short to be a secret. */
export function readMetricsToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new Error(`--metrics-token-file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (text.length < 16) throw new Error(`--metrics-token-file ${file}: the token must be at least 16 characters (it has ${text.length})`);
  return text;
}

/** Whether `given` is `secret`, in time that does not depend on where they differ (both hashed to one length). */
export function sameSecret(given: string, secret: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(secret, 'utf8').digest();
  return timingSafeEqual(a, b);
}
