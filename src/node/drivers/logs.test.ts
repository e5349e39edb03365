import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineSplitter, logFile, readLogs, rotateIfNeeded } from './logs.js';
import type { LogLine } from './driver.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stratus-logs-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `line ${from + i}\n`).join('');
async function collect(it: AsyncIterable<LogLine>): Promise<string[]> {
  const out: string[] = [];
  for await (const l of it) out.push(l.stream === 'stdout' ? l.line : `${l.stream}: ${l.line}`);
  return out;
}

describe('rotateIfNeeded', () => {
  it('copies then truncates, shifting older files and dropping beyond maxFiles', async () => {
    const f = logFile(dir, 'stdout');
    const r = { maxBytes: 10, maxFiles: 2 };
    writeFileSync(f, 'first file\n');
    expect(await rotateIfNeeded(f, r)).toBe(true);
    writeFileSync(f, 'second file\n', { flag: 'a' });
    await rotateIfNeeded(f, r);
    writeFileSync(f, 'third file\n', { flag: 'a' });
    await rotateIfNeeded(f, r);
    expect(readFileSync(f, 'utf8')).toBe('');
    expect(readFileSync(`${f}.1`, 'utf8')).toBe('third file\n');
    expect(readFileSync(`${f}.2`, 'utf8')).toBe('second file\n');
    expect(existsSync(`${f}.3`)).toBe(false);
    expect(await rotateIfNeeded(f, r)).toBe(false); // small enough
  });
});

describe('readLogs', () => {
  it('reads everything kept, oldest first, across rotated files; tail takes the last lines', async () => {
    const f = logFile(dir, 'stdout');
    writeFileSync(`${f}.2`, lines(0, 3));
    writeFileSync(`${f}.1`, lines(3, 6));
    writeFileSync(f, lines(6, 8));
    writeFileSync(logFile(dir, 'stderr'), 'warning\n');
    const all = await collect(readLogs(dir, { isDone: () => true, maxFiles: 2 }));
    expect(all).toEqual([...lines(0, 8).trim().split('\n'), 'stderr: warning']);
    const tail = await collect(readLogs(dir, { tail: 4, streams: ['stdout'], isDone: () => true, maxFiles: 2 }));
    expect(tail).toEqual(['line 4', 'line 5', 'line 6', 'line 7']);
  });

  it('tails a large file by reading backwards', async () => {
    writeFileSync(logFile(dir, 'stdout'), lines(0, 20_000));
    expect(await collect(readLogs(dir, { tail: 2, streams: ['stdout'], isDone: () => true }))).toEqual(['line 19998', 'line 19999']);
  });

  it('follows new lines, picks up what was written before a copy-truncate rotation, and ends when done', async () => {
    const f = logFile(dir, 'stdout');
    writeFileSync(f, 'old\n');
    let done = false;
    const seen: string[] = [];
    const reading = (async () => {
      for await (const l of readLogs(dir, { follow: true, tail: 0, streams: ['stdout'], isDone: () => done, pollMs: 10 })) seen.push(l.line);
    })();
    await new Promise((r) => setTimeout(r, 30));
    appendFileSync(f, 'a\nb');
    await new Promise((r) => setTimeout(r, 30));
    appendFileSync(f, '\nc\n'); // written, then rotated before the reader polls
    await rotateIfNeeded(f, { maxBytes: 0, maxFiles: 1 });
    appendFileSync(f, 'd\nunterminated');
    done = true;
    await reading;
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'unterminated']);
  });

  it('stops following when aborted', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    expect(await collect(readLogs(dir, { follow: true, isDone: () => false, signal: ac.signal, pollMs: 10 }))).toEqual([]);
  });
});

describe('LineSplitter', () => {
  it('keeps partial lines and split UTF-8 characters for the next chunk', () => {
    const s = new LineSplitter();
    const euro = Buffer.from('€'); // 3 bytes
    expect(s.push(Buffer.concat([Buffer.from('a\nb'), euro.subarray(0, 1)]))).toEqual(['a']);
    expect(s.push(Buffer.concat([euro.subarray(1), Buffer.from('\n')]))).toEqual(['b€']);
    expect(s.end()).toBeUndefined();
  });
});
