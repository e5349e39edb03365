/** One agent per data directory: a pid file that a second agent refuses to take over. */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function lockDataDir(dataDir: string): () => void {
  const file = join(dataDir, 'agent.pid');
  let other: number | undefined;
  try {
    other = Number(readFileSync(file, 'utf8').trim());
  } catch {
    other = undefined;
  }
  if (other && other !== process.pid && alive(other)) {
    throw new Error(`another agent (pid ${other}) is using ${dataDir}; stop it first or give this one its own --data-dir`);
  }
  writeFileSync(file, `${process.pid}\n`, { mode: 0o600 });
  return () => {
    try {
      if (Number(readFileSync(file, 'utf8').trim()) === process.pid) rmSync(file, { force: true });
    } catch {
      // already gone
    }
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
