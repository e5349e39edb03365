/** Defaults of `stratus server` that its flags show: light, so `stratus --help` does not load the server. */
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where a server keeps its store and state: $XDG_DATA_HOME/stratus, else ~/.local/share/stratus. */
export function defaultDataDir(): string {
  const base = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(base, 'stratus');
}
