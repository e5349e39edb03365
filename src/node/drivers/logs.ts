/**
 * Task output in files, rotated by size, read back as lines.
 *
 *   <dir>/stdout.log  ← the workload's fd 1 (O_APPEND; opened by the driver, inherited by the workload)
 *   <dir>/stdout.log.1 … .N   older output, newest first
 *
 * The workload writes straight into the file, so it never blocks on, or dies with, the agent.
 * Rotation is therefore copy-then-truncate: the current file is copied to `.1` and truncated; the
 * writer's O_APPEND offset follows the truncation. Bytes written between the copy and the truncate
 * (a window of a few milliseconds for a 10 MiB file) are lost; the check runs every few seconds, so
 * a file can overshoot maxBytes by what the workload writes in between.
 */
import { open, stat, rename, copyFile, truncate } from 'node:fs/promises';
import { openSync, closeSync, mkdirSync, constants as fsc } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { join } from 'node:path';
import type { LogLine, LogOptions, LogStream } from './driver.js';

export interface LogRotation {
  /** Rotate once the current file is larger than this. */
  maxBytes: number;
  /** Rotated files kept (.1 … .maxFiles); older output is dropped. */
  maxFiles: number;
  checkIntervalMs: number;
}

export const DEFAULT_ROTATION: LogRotation = { maxBytes: 10 * 1024 * 1024, maxFiles: 3, checkIntervalMs: 2000 };
const STREAMS: LogStream[] = ['stdout', 'stderr'];
const MAX_LINE = 64 * 1024;

export const logFile = (dir: string, stream: LogStream) => join(dir, `${stream}.log`);

/** Opens (creating) both log files for appending; the caller passes the fds to the child and closes them. */
export function openLogFds(dir: string): { stdout: number; stderr: number; close(): void } {
  mkdirSync(dir, { recursive: true });
  const flags = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_APPEND;
  const stdout = openSync(logFile(dir, 'stdout'), flags, 0o640);
  const stderr = openSync(logFile(dir, 'stderr'), flags, 0o640);
  return { stdout, stderr, close: () => [stdout, stderr].forEach((fd) => closeSync(fd)) };
}

/**
 * Rotations per file, and a lock so a reader never looks at a file halfway through a rotation.
 * Rotator and readers both live in the agent process, so an in-process lock is enough.
 */
const generations = new Map<string, number>();
const locks = new Map<string, Promise<unknown>>();

function withLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(file) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const settled = next.catch(() => undefined);
  locks.set(file, settled);
  void settled.then(() => {
    if (locks.get(file) === settled) locks.delete(file);
  });
  return next;
}

/** Rotates `file` if it is larger than maxBytes. Returns whether it did. */
export function rotateIfNeeded(file: string, r: Pick<LogRotation, 'maxBytes' | 'maxFiles'>): Promise<boolean> {
  return withLock(file, async () => {
    const size = await sizeOf(file);
    if (size <= r.maxBytes) return false;
    for (let i = r.maxFiles - 1; i >= 1; i--) await rename(`${file}.${i}`, `${file}.${i + 1}`).catch(() => undefined);
    if (r.maxFiles > 0) await copyFile(file, `${file}.1`);
    await truncate(file, 0);
    generations.set(file, (generations.get(file) ?? 0) + 1);
    return true;
  });
}

/** Checks a task's log files every `checkIntervalMs` while started. The timer never keeps the agent alive. */
export class LogRotator {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly dir: string,
    private readonly rotation: LogRotation,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.check(), this.rotation.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async check(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (const s of STREAMS) await rotateIfNeeded(logFile(this.dir, s), this.rotation).catch(() => false);
    } finally {
      this.busy = false;
    }
  }
}

/**
 * Reads a task's logs: the last `tail` lines of each stream (from rotated files too), then, with
 * `follow`, new lines until `isDone()` holds and nothing more arrives, or the signal aborts.
 */
export async function* readLogs(
  dir: string,
  options: LogOptions & { isDone: () => boolean; pollMs?: number; maxFiles?: number },
): AsyncGenerator<LogLine> {
  const streams = options.streams ?? STREAMS;
  const offsets = new Map<LogStream, number>();
  const seenGeneration = new Map<LogStream, number>();
  for (const s of streams) {
    const file = logFile(dir, s);
    const { size, lines } = await withLock(file, async () => {
      seenGeneration.set(s, generations.get(file) ?? 0);
      const size = await sizeOf(file);
      return { size, lines: await readExisting(file, size, options.tail, options.maxFiles ?? DEFAULT_ROTATION.maxFiles) };
    });
    offsets.set(s, size);
    for (const line of lines) yield { stream: s, line };
  }
  if (!options.follow) return;
  const splitters = new Map(streams.map((s) => [s, new LineSplitter()]));
  const pollMs = options.pollMs ?? 100;
  for (;;) {
    if (options.signal?.aborted) return;
    const wasDone = options.isDone();
    let got = false;
    for (const s of streams) {
      const file = logFile(dir, s);
      const chunks = await withLock(file, async () => {
        let offset = offsets.get(s) ?? 0;
        const out: Buffer[] = [];
        const generation = generations.get(file) ?? 0;
        if (generation !== seenGeneration.get(s)) {
          // rotated by copy-truncate: the rest of what we had not read is at the end of .1
          // (after two rotations between polls, the older one's tail is lost)
          seenGeneration.set(s, generation);
          out.push(await readRange(`${file}.1`, offset, Infinity));
          offset = 0;
        }
        const size = await sizeOf(file);
        if (size < offset) offset = 0; // truncated by someone else
        if (size > offset) out.push(await readRange(file, offset, size));
        offsets.set(s, size);
        return out;
      });
      const splitter = splitters.get(s)!;
      for (const c of chunks) {
        if (c.length > 0) got = true;
        for (const line of splitter.push(c)) yield { stream: s, line };
      }
    }
    if (wasDone && !got) break;
    await abortableSleep(pollMs, options.signal);
  }
  for (const s of streams) {
    const rest = splitters.get(s)!.end();
    if (rest !== undefined) yield { stream: s, line: rest };
  }
}

/** Splits bytes into lines, keeping an unfinished line (and split UTF-8 characters) for the next chunk. */
export class LineSplitter {
  private decoder = new StringDecoder('utf8');
  private partial = '';

  push(chunk: Buffer): string[] {
    const parts = (this.partial + this.decoder.write(chunk)).split('\n');
    this.partial = parts.pop() ?? '';
    while (this.partial.length > MAX_LINE) {
      parts.push(this.partial.slice(0, MAX_LINE));
      this.partial = this.partial.slice(MAX_LINE);
    }
    return parts;
  }

  end(): string | undefined {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    return rest === '' ? undefined : rest;
  }
}

/** The lines already written: rotated files oldest first, then the current file up to `size`. */
async function readExisting(file: string, size: number, tail: number | undefined, maxFiles: number): Promise<string[]> {
  if (tail !== undefined && tail <= 0) return [];
  const files = [...Array.from({ length: maxFiles }, (_, i) => `${file}.${maxFiles - i}`), file];
  const out: string[] = [];
  for (let i = files.length - 1; i >= 0; i--) {
    const f = files[i]!;
    const end = f === file ? size : await sizeOf(f);
    if (end === 0) continue;
    const need = tail === undefined ? undefined : tail - out.length;
    const lines = await lastLines(f, end, need);
    out.unshift(...lines);
    if (tail !== undefined && out.length >= tail) return out.slice(out.length - tail);
  }
  return out;
}

/** The last `n` lines (all when undefined) of the first `end` bytes of a file, reading backwards in chunks. */
async function lastLines(file: string, end: number, n: number | undefined): Promise<string[]> {
  const chunk = 64 * 1024;
  let start = end;
  let buf = Buffer.alloc(0);
  while (start > 0) {
    const from = Math.max(0, start - chunk);
    buf = Buffer.concat([await readRange(file, from, start), buf]);
    start = from;
    if (n !== undefined && countNewlines(buf) > n) break;
  }
  const text = buf.toString('utf8');
  const lines = (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
  if (start > 0) lines.shift(); // first piece is a partial line
  return n === undefined ? lines : lines.slice(Math.max(0, lines.length - n));
}

function countNewlines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  return n;
}

async function readRange(file: string, from: number, to: number): Promise<Buffer> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const end = to === Infinity ? (await fh.stat()).size : to;
    if (end <= from) return Buffer.alloc(0);
    const buf = Buffer.alloc(end - from);
    const { bytesRead } = await fh.read(buf, 0, buf.length, from);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
