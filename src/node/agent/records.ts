/**
 * What the agent remembers about each instance it runs, in <data-dir>/instances/<uid>.json:
 * the driver handles of its runs, the restart count, the local image. Written before and after
 * every start so an agent restart can re-attach to what still runs.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskHandle } from '../drivers/index.js';

export interface LocalRecord {
  uid: string;
  project: string;
  name: string;
  driver: string;
  /** Runs started so far (the next task id uses it). */
  attempt: number;
  restarts: number;
  /** The current run, when there is one. */
  handle?: TaskHandle;
  /** Earlier runs not yet destroyed (the last one is kept for its logs). */
  previous: TaskHandle[];
}

export class RecordStore {
  private readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'instances');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  all(): LocalRecord[] {
    const out: LocalRecord[] = [];
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as LocalRecord);
      } catch {
        rmSync(join(this.dir, f), { force: true });
      }
    }
    return out;
  }

  save(r: LocalRecord): void {
    const path = join(this.dir, `${r.uid}.json`);
    writeFileSync(`${path}.tmp`, JSON.stringify(r));
    renameSync(`${path}.tmp`, path);
  }

  remove(uid: string): void {
    rmSync(join(this.dir, `${uid}.json`), { force: true });
  }

  taskDir(r: LocalRecord, attempt: number): string {
    return join(this.dir, '..', 'tasks', `${r.uid}.${attempt}`);
  }
}
