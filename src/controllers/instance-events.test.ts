import { describe, it, expect } from 'vitest';
import { eventsFor } from './instance-events.js';
import type { InstanceStatus } from '../model/kinds/instance.js';

const s = (x: Partial<InstanceStatus>): InstanceStatus => ({ phase: 'Pending', ...x });
const pending = { type: 'Ready', status: 'False' as const, reason: 'HealthCheckPending', message: 'waiting for the first passing health check' };
const refused = { type: 'Ready', status: 'False' as const, reason: 'HealthCheckFailed', message: 'health check failed: GET http://10.0.0.5:8080/: connection refused' };

describe('eventsFor', () => {
  it.each([
    ['start', s({ phase: 'Starting', node: 'n' }), s({ phase: 'Running', node: 'n', pid: 7 }), ['Started']],
    ['heartbeat-like rewrite', s({ phase: 'Running', pid: 7 }), s({ phase: 'Running', pid: 7, usage: { cpu: 1, memory: 1, at: 'x' } }), []],
    ['crash with restart', s({ phase: 'Running', restarts: 0 }), s({ phase: 'Starting', reason: 'BackOff', restarts: 1 }), ['BackOff']],
    ['oom with restart', s({ phase: 'Running', restarts: 2 }), s({ phase: 'Starting', reason: 'OOMKilled', restarts: 3 }), ['OOMKilled']],
    ['final oom', s({ phase: 'Running' }), s({ phase: 'Failed', reason: 'OOMKilled' }), ['OOMKilled']],
    ['final failure', s({ phase: 'Running' }), s({ phase: 'Failed', reason: 'Error' }), ['Failed']],
    ['success', s({ phase: 'Running' }), s({ phase: 'Succeeded' }), ['Completed']],
    ['drained and released', s({ phase: 'Stopping' }), s({ phase: 'Pending', reason: 'Drained' }), ['Stopped']],
    ['first failing health check', s({ phase: 'Running', conditions: [pending] }), s({ phase: 'Running', conditions: [refused] }), ['Unhealthy']],
    ['the same failure again', s({ phase: 'Running', conditions: [refused] }), s({ phase: 'Running', pid: 8, conditions: [refused] }), ['Started']],
    ['a new reason', s({ phase: 'Running', conditions: [refused] }), s({ phase: 'Running', conditions: [{ ...refused, message: 'health check failed: GET http://10.0.0.5:8080/ answered 500' }] }), ['Unhealthy']],
    ['passing', s({ phase: 'Running', conditions: [refused] }), s({ phase: 'Running', conditions: [{ type: 'Ready', status: 'True', reason: 'HealthCheckPassed' }] }), []],
  ])('%s', (_n, prev, next, reasons) => {
    expect(eventsFor(prev, next).map((e) => e.reason)).toEqual(reasons);
  });

  it('says what the failing health check found', () => {
    expect(eventsFor(s({ phase: 'Running' }), s({ phase: 'Running', conditions: [refused] }))).toEqual([{ type: 'Warning', reason: 'Unhealthy', message: refused.message }]);
  });
});
