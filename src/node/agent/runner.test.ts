import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockDriver, MockWorld } from '../drivers/index.js';
import type { Instance, InstanceStatus, RunSpec } from '../../model/kinds/instance.js';
import { InstanceRunner, taskId, type RunnerDeps } from './runner.js';
import { RecordStore, type LocalRecord } from './records.js';

let dir: string;
let driver: MockDriver;
let records: RecordStore;
/** The "control plane": the latest instance object and every status written. */
let stored: Instance;
let writes: InstanceStatus[];

function instance(spec: Partial<Instance['spec']> = {}, env: Record<string, string> = {}): Instance {
  return {
    kind: 'instance',
    metadata: { name: 'web', project: 'p', uid: 'u1', revision: 1, generation: 1, createdAt: '2026-01-01T00:00:00Z' },
    spec: { driver: 'mock' as never, command: ['x'], env, resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 1, ...spec },
    status: { phase: 'Scheduled', node: 'n1' },
  };
}

function deps(): RunnerDeps {
  return {
    node: 'n1',
    driver: (name) => (name === 'mock' ? driver : undefined),
    records,
    writeStatus: async (_i, change) => {
      const next = change(stored.status ?? { phase: 'Pending' }, stored);
      if (!next) return undefined;
      stored = { ...stored, metadata: { ...stored.metadata, revision: stored.metadata.revision + 1 }, status: next };
      writes.push(next);
      return stored;
    },
    prepare: async (i) => ({ spec: i.spec as RunSpec, env: { STRATUS_INSTANCE: i.metadata.name } }),
    clock: { now: () => Date.now() },
    backoff: { baseMs: 20, maxMs: 80, resetAfterMs: 60_000 },
    log: () => undefined,
  };
}

function runnerFor(inst: Instance): InstanceRunner {
  stored = inst;
  const rec: LocalRecord = { uid: 'u1', project: 'p', name: 'web', driver: 'mock', attempt: 0, restarts: 0, previous: [] };
  records.save(rec);
  const r = new InstanceRunner(inst, rec, deps());
  r.update(inst);
  return r;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out; writes: ${JSON.stringify(writes.map((w) => [w.phase, w.reason, w.restarts]))}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-runner-'));
  driver = new MockDriver({ world: new MockWorld() });
  records = new RecordStore(dir);
  writes = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('InstanceRunner', () => {
  it('a status write the control plane refuses after the start is tried again; the run is not counted as failed', async () => {
    const d = deps();
    let refusals = 2;
    const write = d.writeStatus;
    d.writeStatus = async (i, change) => {
      if (refusals-- > 0) throw new Error('cannot reach the servers at http://127.0.0.1:1 (connection refused)');
      return write(i, change);
    };
    stored = instance();
    const rec: LocalRecord = { uid: 'u1', project: 'p', name: 'web', driver: 'mock', attempt: 0, restarts: 0, previous: [] };
    records.save(rec);
    new InstanceRunner(stored, rec, d).update(stored);
    await until(() => stored.status?.phase === 'Running', 10_000);
    expect(writes.map((w) => [w.phase, w.restarts])).toEqual([['Running', 0]]);
    expect(records.all().find((r) => r.uid === 'u1')?.attempt).toBe(1);
  });

  it('starts the instance and reports Running with its pid', async () => {
    runnerFor(instance());
    await until(() => stored.status?.phase === 'Running');
    expect(writes.map((w) => w.phase)).toEqual(['Running']);
    expect(stored.status?.pid).toBeGreaterThan(0);
  });

  it.each([
    ['always', 0, 'restarts'],
    ['on-failure', 3, 'restarts'],
    ['on-failure', 0, 'Succeeded'],
    ['never', 3, 'Failed'],
    ['never', 0, 'Succeeded'],
  ] as const)('restart policy %s, exit code %d → %s', async (restartPolicy, code, outcome) => {
    runnerFor(instance({ restartPolicy }, { STRATUS_MOCK_RUN_FOR_MS: '10', STRATUS_MOCK_EXIT_CODE: String(code) }));
    if (outcome === 'restarts') {
      await until(() => (stored.status?.restarts ?? 0) >= 3);
      const backoffs = writes.filter((w) => w.reason === 'BackOff');
      // 20 ms doubling: 20, 40, 80 (capped at 80)
      expect(backoffs.slice(0, 3).map((w) => w.message?.match(/restart (\d+)/)?.[1])).toEqual(['1', '2', '3']);
      expect(backoffs.every((w) => w.phase === 'Starting')).toBe(true);
    } else {
      await until(() => stored.status?.phase === outcome);
      expect(stored.status?.exitCode).toBe(code);
      expect(writes.filter((w) => w.phase === 'Running')).toHaveLength(1);
    }
  });

  it('reports an OOM kill as OOMKilled, and restarts it under on-failure', async () => {
    runnerFor(instance({ restartPolicy: 'on-failure' }, { STRATUS_MOCK_OOM_AFTER_MS: '10' }));
    await until(() => writes.some((w) => w.reason === 'OOMKilled'));
    expect(writes.find((w) => w.reason === 'OOMKilled')?.restarts).toBe(1);
  });

  it('stops an evicted instance and releases it, back to Pending under restart always', async () => {
    const r = runnerFor(instance());
    await until(() => stored.status?.phase === 'Running');
    stored = { ...stored, metadata: { ...stored.metadata, revision: stored.metadata.revision + 1 }, status: { ...stored.status!, phase: 'Stopping', reason: 'Drained', message: 'node n1 is draining' } };
    r.update(stored);
    await until(() => stored.status?.phase === 'Pending');
    expect(stored.status).toMatchObject({ phase: 'Pending', reason: 'Drained' });
    expect(stored.status?.node).toBeUndefined();
    expect(r.running).toBeUndefined();
  });

  it('stops an instance set Off (stratus instance stop) and keeps it bound; Scheduled again runs it once more', async () => {
    const r = runnerFor(instance());
    await until(() => stored.status?.phase === 'Running');
    const first = r.running!;
    stored = { ...stored, metadata: { ...stored.metadata, revision: stored.metadata.revision + 1 }, status: { ...stored.status!, phase: 'Off', reason: 'StopRequested' } };
    r.update(stored);
    await until(() => stored.status?.reason === 'Stopped');
    expect(stored.status).toMatchObject({ phase: 'Off', node: 'n1', message: 'stopped on node n1; stratus instance start web runs it again' });
    expect(r.running).toBeUndefined();
    expect((await driver.inspect(first)).running).toBe(false);
    expect(records.all()).toHaveLength(1); // not forgotten: its disks stay on this node
    stored = { ...stored, metadata: { ...stored.metadata, revision: stored.metadata.revision + 1 }, status: { ...stored.status!, phase: 'Scheduled', reason: 'StartRequested' } };
    r.update(stored);
    await until(() => stored.status?.phase === 'Running');
    expect(r.running?.taskId).not.toBe(first.taskId);
    await r.remove();
  });

  it('a stop that comes while the run is starting wins: the start does not write Running over Off', async () => {
    const d = deps();
    let attempts = 0;
    const write = d.writeStatus;
    d.writeStatus = (i, change) => (attempts++, write(i, change));
    stored = instance({}, { STRATUS_MOCK_START_DELAY_MS: '50' });
    const rec: LocalRecord = { uid: 'u1', project: 'p', name: 'web', driver: 'mock', attempt: 0, restarts: 0, previous: [] };
    records.save(rec);
    const r = new InstanceRunner(stored, rec, d);
    r.update(stored);
    await until(() => driver.calls.some((c) => c.method === 'start'));
    stored = { ...stored, metadata: { ...stored.metadata, revision: stored.metadata.revision + 1 }, status: { ...stored.status!, phase: 'Off', reason: 'StopRequested' } };
    await until(() => attempts >= 1); // the start completed and tried to write Running
    expect(stored.status?.phase).toBe('Off');
    r.update(stored); // the agent's watch brings the change
    await until(() => stored.status?.reason === 'Stopped' && r.running === undefined);
    expect(writes.some((w) => w.phase === 'Running')).toBe(false);
    await r.remove();
  });

  it('does not overwrite a phase the control plane set meanwhile', async () => {
    const r = runnerFor(instance({}, { STRATUS_MOCK_START_DELAY_MS: '30' }));
    stored = { ...stored, status: { phase: 'Lost', node: 'n1', reason: 'NodeLost' } };
    await new Promise((res) => setTimeout(res, 80));
    expect(stored.status?.phase).toBe('Lost');
    r.update({ ...stored, metadata: { ...stored.metadata, revision: stored.metadata.revision + 1 } });
    await until(() => r.running === undefined);
  });

  it('removes everything it started when the instance goes away', async () => {
    const r = runnerFor(instance({ restartPolicy: 'always' }, { STRATUS_MOCK_RUN_FOR_MS: '10' }));
    await until(() => (stored.status?.restarts ?? 0) >= 2);
    await r.remove();
    expect(r.running).toBeUndefined();
    expect(records.all()).toEqual([]);
  });

  it('starts at once when what it waited for comes while it is being prepared', async () => {
    // The address comes (an update) while the first prepare is still running: no one-second retry.
    let calls = 0;
    let release: () => void = () => undefined;
    const inst = instance();
    stored = inst;
    const rec: LocalRecord = { uid: 'u1', project: 'p', name: 'web', driver: 'mock', attempt: 0, restarts: 0, previous: [] };
    records.save(rec);
    // Unprompted retries are an hour away: only the fix can start it within the test's time.
    const r = new InstanceRunner(inst, rec, {
      ...deps(),
      waitRetryMs: 3_600_000,
      prepare: async (i) => {
        calls++;
        if (!i.status?.ip) {
          await new Promise<void>((res) => (release = res));
          return { spec: i.spec as RunSpec, env: {}, wait: 'waiting for an address' };
        }
        return { spec: i.spec as RunSpec, env: {} };
      },
    });
    r.update(inst);
    await until(() => calls === 1);
    r.update({ ...inst, metadata: { ...inst.metadata, revision: 2 }, status: { ...inst.status!, ip: '10.1.0.2' } });
    release();
    await until(() => stored.status?.phase === 'Running');
    expect(calls).toBe(2);
    await r.remove();
  });

  it('wakes a waiting start when told something it may wait for changed', async () => {
    let ready = false;
    let calls = 0;
    const inst = instance();
    stored = inst;
    const rec: LocalRecord = { uid: 'u1', project: 'p', name: 'web', driver: 'mock', attempt: 0, restarts: 0, previous: [] };
    records.save(rec);
    const r = new InstanceRunner(inst, rec, { ...deps(), waitRetryMs: 3_600_000, prepare: async (i) => (calls++, ready ? { spec: i.spec as RunSpec, env: {} } : { spec: i.spec as RunSpec, env: {}, wait: 'network not ready here' }) });
    r.update(inst);
    await until(() => calls === 1);
    ready = true;
    r.wake();
    await until(() => stored.status?.phase === 'Running');
    await r.remove();
  });

  it('names runs after the node, so two agents of a machine never share a cgroup', () => {
    const ref = { project: 'p', name: 'web', uid: 'abc' };
    expect(taskId(ref, 1, 'a1')).not.toBe(taskId(ref, 1, 'a2'));
    expect(taskId({ ...ref, name: 'x'.repeat(120) }, 1, 'node-with-a-long-name').length).toBeLessThanOrEqual(128);
  });
});
