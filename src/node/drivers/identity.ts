/**
 * Who a workload is on the host: each project gets its own range of 65,536 host user and group
 * ids on a machine, allocated once and kept in one file that every agent of the machine shares.
 *
 *   process instance (sandboxed)   runs as host uid = range start (never root, never the agent's)
 *   container (user namespace)     uid 0..65535 inside = range start..+65535 on the host
 *
 * Projects never share a range, so one project's workloads own none of another's files, and no
 * range overlaps the ids of the machine's own users (ranges start at 2^20 + 2^16 = 1,114,112,
 * above the 65,536 ids Debian hands out and the 100000+ subuid ranges of rootless tools).
 *
 *   /var/lib/stratus/uid-ranges.json   {"version":1,"ranges":{"team-a":0,"team-b":1}}  (slot numbers)
 *
 * Changes are serialized across processes with an exclusive lock file (O_EXCL; a lock left by a
 * dead process is broken) and written by rename, so concurrent agents never hand out a slot twice.
 */
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export const RANGE_SIZE = 65536;
export const FIRST_ID = 1 << 20;
/** Slots that fit below 2^31 (ids above are unsafe for some tools). */
export const MAX_SLOTS = Math.floor((2 ** 31 - FIRST_ID) / RANGE_SIZE) - 1;
export const DEFAULT_RANGES_FILE = '/var/lib/stratus/uid-ranges.json';

export interface IdRange {
  /** First host id of the range (uid and gid alike). */
  start: number;
  size: number;
}

interface RangesFile {
  version: 1;
  ranges: Record<string, number>;
}

export class IdRanges {
  private readonly cache = new Map<string, IdRange>();

  constructor(readonly file: string = DEFAULT_RANGES_FILE) {}

  /** The project's range, allocating a slot on first use. Synchronous: a few file operations. */
  forProject(project: string): IdRange {
    const cached = this.cache.get(project);
    if (cached) return cached;
    let slot = this.read().ranges[project];
    if (slot === undefined) slot = this.withLock(() => this.allocate(project));
    const range = { start: FIRST_ID + (slot + 1) * RANGE_SIZE, size: RANGE_SIZE };
    this.cache.set(project, range);
    return range;
  }

  private allocate(project: string): number {
    const data = this.read();
    const existing = data.ranges[project];
    if (existing !== undefined) return existing;
    const used = new Set(Object.values(data.ranges));
    let slot = 0;
    while (used.has(slot)) slot++;
    if (slot >= MAX_SLOTS) throw new Error(`no free id range left in ${this.file} (${MAX_SLOTS} projects)`);
    data.ranges[project] = slot;
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(data), { mode: 0o600 });
    renameSync(tmp, this.file);
    return slot;
  }

  private read(): RangesFile {
    try {
      const data = JSON.parse(readFileSync(this.file, 'utf8')) as RangesFile;
      if (data.version === 1 && typeof data.ranges === 'object' && data.ranges !== null) return data;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the id ranges in ${this.file}: ${(e as Error).message}`);
    }
    return { version: 1, ranges: {} };
  }

  private withLock<T>(fn: () => T): T {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const lock = `${this.file}.lock`;
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const fd = openSync(lock, 'wx', 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        if (lockHolderGone(lock)) rmSync(lock, { force: true });
        else if (Date.now() > deadline) throw new Error(`${lock} is held by another process; remove it if no agent is running`);
        else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      }
    }
    try {
      return fn();
    } finally {
      rmSync(lock, { force: true });
    }
  }
}

function lockHolderGone(lock: string): boolean {
  let text: string;
  try {
    text = readFileSync(lock, 'utf8').trim();
  } catch {
    return false; // released meanwhile: try again
  }
  // Empty: its holder is between creating and writing it, unless that was long ago.
  if (text === '') return Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0) > 5000;
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
