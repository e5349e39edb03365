/**
 * Files only their owner may read: the control plane's data directory (0700) and the files in it
 * (0600). Modes are set on creation and corrected on every start, so that a data directory made by
 * an older version (0755/0644) is private once this one has run.
 */
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';

/** Creates `dir` (and its parents) if missing; `dir` itself ends up 0700. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  restrict(dir, 0o700);
}

/** Makes `file` 0600, creating it empty when `create` and it does not exist. */
export function privateFile(file: string, create = false): void {
  if (create) closeSync(openSync(file, 'a', 0o600));
  restrict(file, 0o600);
}

function restrict(path: string, mode: number): void {
  let current: number;
  try {
    current = statSync(path).mode & 0o7777;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (current !== mode) chmodSync(path, mode);
}
