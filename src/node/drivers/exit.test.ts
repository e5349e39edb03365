import { describe, expect, it } from 'vitest';
import { classifyExit, type ExitObservation } from './exit.js';

const at = '2026-01-01T00:00:00.000Z';
const obs = (o: Partial<ExitObservation>): ExitObservation => ({ status: 0, stopRequested: false, finishedAt: at, memoryMiB: 32, ...o });

describe('classifyExit', () => {
  it.each([
    ['clean exit', obs({}), { code: 0, signal: null, reason: 'Completed', oomKilled: false }],
    ['failure', obs({ status: 2 }), { code: 2, reason: 'Error' }],
    ['signal', obs({ status: 128 + 11 }), { code: null, signal: 'SIGSEGV', reason: 'Signaled' }],
    ['stopped', obs({ status: 143, stopRequested: true }), { signal: 'SIGTERM', reason: 'Stopped' }],
    ['OOM kill counted', obs({ status: 137, oom: { oomKills: 1, limitHits: 9 } }), { reason: 'OOMKilled', oomKilled: true, message: 'killed by SIGKILL: out of memory (limit 32 MiB)' }],
    ['OOM beats stop', obs({ status: 137, stopRequested: true, oom: { oomKills: 1, limitHits: 1 } }), { reason: 'OOMKilled' }],
    ['child OOM, main exits 0', obs({ status: 0, oom: { oomKills: 1, limitHits: 1 } }), { reason: 'Completed', oomKilled: true }],
    ['old kernel: failcnt + SIGKILL', obs({ status: 137, oom: { oomKills: undefined, limitHits: 4 } }), { reason: 'OOMKilled', oomKilled: true }],
    ['old kernel: our own SIGKILL is not OOM', obs({ status: 137, stopRequested: true, oom: { oomKills: undefined, limitHits: 4 } }), { reason: 'Stopped', oomKilled: false }],
    ['page-cache limit hits are not OOM', obs({ status: 0, oom: { oomKills: 0, limitHits: 100 } }), { reason: 'Completed', oomKilled: false }],
    ['nobody recorded a status', obs({ status: undefined }), { code: null, signal: null, reason: 'Unknown' }],
  ])('%s', (_name, o, expected) => {
    expect(classifyExit(o)).toMatchObject({ ...expected, finishedAt: at });
  });
});
