import { describe, expect, it } from 'vitest';
import { decodeShellStatus, isAlive, parseProcStat, readProcStat, signalName } from './proc.js';

describe('parseProcStat', () => {
  it('reads fields after the last parenthesis, whatever the command name holds', () => {
    const text = '4242 (my (odd) name) S 1 4240 4240 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 123456 1000000 250 18446744073709551615';
    expect(parseProcStat(text)).toEqual({ pid: 4242, comm: 'my (odd) name', state: 'S', ppid: 1, pgrp: 4240, session: 4240, utime: 7, stime: 3, starttime: 123456, rss: 250 });
  });
  it('refuses truncated text', () => {
    expect(parseProcStat('1 (x) S 0')).toBeUndefined();
  });
  it('reads this process', async () => {
    const me = await readProcStat(process.pid);
    expect(me?.pid).toBe(process.pid);
    expect(await isAlive(process.pid, me!.starttime)).toBe(true);
    expect(await isAlive(process.pid, me!.starttime + 1)).toBe(false); // a reused pid is not the same process
  });
});

describe('decodeShellStatus', () => {
  it.each([
    [0, 0, null],
    [3, 3, null],
    [128, 128, null],
    [137, null, 'SIGKILL'], // 128 + 9
    [143, null, 'SIGTERM'], // 128 + 15
    [255, 255, null],
  ])('$? = %i → code %s, signal %s', (status, code, signal) => {
    expect(decodeShellStatus(status)).toEqual({ code, signal });
  });
  it('names signals', () => expect(signalName(2)).toBe('SIGINT'));
});
