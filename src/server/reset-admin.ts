/**
 * `stratus server --reset-admin-token`: opens the store of a data dir directly (no server runs;
 * the store's lock refuses while one does), restores the admin and prints a new token for it.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openBackend } from '../store/index.js';
import { Repository } from '../store/repository.js';
import { AuditLog } from '../policy/audit.js';
import { recoverAdmin, type RecoveredAdmin } from '../policy/recovery.js';
import { systemClock, randomIds } from '../model/runtime.js';
import { bootstrapped } from './bootstrap.js';
import { storeUrlOf } from './main.js';

export async function resetAdminToken(config: { dataDir: string; store?: string }): Promise<RecoveredAdmin> {
  const url = storeUrlOf(config);
  if (url.startsWith('sqlite:') && !existsSync(fileURLToPath(url.replace(/^sqlite:/, 'file:')))) {
    throw new Error(`there is no Stratus store at ${url.replace(/^sqlite:\/\//, '')} (is --data-dir right?)`);
  }
  const backend = await openBackend(url);
  try {
    const repo = new Repository(backend, systemClock, randomIds);
    if (!(await bootstrapped(repo))) throw new Error('this store holds no cluster yet: start the server once, it prints the first admin token');
    return await recoverAdmin(repo, new AuditLog(backend, systemClock, randomIds));
  } finally {
    await backend.close();
  }
}
