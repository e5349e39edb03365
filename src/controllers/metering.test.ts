import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { MemoryBackend } from '../store/memory.js';
import { Repository } from '../store/repository.js';
import { FakeClock, sequentialIds } from '../model/runtime.js';
import { instanceKind, nodeKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Node } from '../model/kinds/node.js';
import { meteringKeys, usageKeys } from '../model/keyspace.js';
import type { NodeUsageReport } from '../model/usage.js';
import { Informers } from '../runtime/informers.js';
import { StoreMeterReader } from '../runtime/metering-store.js';
import { MeteringController } from './metering.js';

const T0 = Date.parse('2026-12-05T03:59:50.000Z');
let clock: FakeClock;
let repo: Repository;
let uid: string;
const running: MeteringController[] = [];
let logged: string[] = [];

async function controller(options: { retentionDays?: number } = {}): Promise<MeteringController> {
  const ctl = new MeteringController(repo, { informers: new Informers(repo), clock, flushMs: 3_600_000, volumeTickMs: 3_600_000, log: (m) => logged.push(m), ...options });
  await ctl.start();
  running.push(ctl);
  return ctl;
}

/** Stores node n1's report of cpuSeconds at `atMs`, and lets `ctl` count it (and write). */
async function report(ctl: MeteringController, atMs: number, cpuSeconds: number): Promise<void> {
  const r: NodeUsageReport = { node: 'n1', at: new Date(atMs).toISOString(), intervalMs: 5000, cpu: 0, memory: 0, services: [], instances: [{ uid, project: 'p', name: 'web', cpu: 0, cpuSeconds, memory: 1024 }] };
  const { revision } = await repo.records.txn([{ op: 'put', key: usageKeys.key('n1'), value: JSON.stringify(r) }]);
  await delivered(ctl, revision);
  await ctl.flushNow();
}

async function delivered(ctl: MeteringController, revision: number): Promise<void> {
  const informer = (ctl as unknown as { options: { informers: Informers } }).options.informers.records(usageKeys.prefix);
  for (let i = 0; i < 1000 && informer.revision < revision; i++) await new Promise((r) => setImmediate(r));
}

const read = (project?: string) => new StoreMeterReader(repo.records).read({ since: new Date(T0 - 3_600_000), until: new Date(T0 + 7_200_000), ...(project ? { project } : {}) });

beforeEach(async () => {
  logged = [];
  clock = new FakeClock(T0);
  repo = new Repository(new MemoryBackend(), clock, sequentialIds());
  const i = await repo.create<Instance>(instanceKind, { metadata: { name: 'web', project: 'p' }, spec: { driver: 'process', command: ['x'], resources: { cpu: 500, memory: 2048, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10 } } as never);
  uid = i.metadata.uid;
  await repo.setStatus(instanceKind, i, { phase: 'Running', node: 'n1', startedAt: new Date(T0 - 60_000).toISOString() } as never);
  const n = await repo.create<Node>(nodeKind, { metadata: { name: 'n1' }, spec: { pool: 'cpu' } } as never);
  await repo.setStatus(nodeKind, n, { phase: 'Ready', capacity: { cpu: 4000, memory: 8192, disk: 0, gpus: [] } } as never);
});

afterEach(async () => {
  for (const c of running.splice(0)) await c.stop();
});

describe('MeteringController', () => {
  it('writes hourly records a reader returns, and a new controller continues from their counters (a re-listed report adds nothing)', async () => {
    const a = await controller();
    await report(a, T0, 1);
    await report(a, T0 + 5000, 3.5);
    await a.stop();
    let got = await read();
    expect(got.instances).toEqual([expect.objectContaining({ hour: '2026-12-05T03:00:00.000Z', project: 'p', name: 'web', uid, node: 'n1', pool: 'cpu', driver: 'process', seconds: 5, cpuSeconds: 3.5, cpuReservedSeconds: 2.5, memoryGiBSeconds: 5, memoryReservedGiBSeconds: 10 })]);
    expect(got.instances[0]).not.toHaveProperty('last');
    expect(got.nodes).toEqual([{ hour: '2026-12-05T03:00:00.000Z', node: 'n1', pool: 'cpu', seconds: 5, cpuCoreSeconds: 20, memoryGiBSeconds: 40 }]);

    const b = await controller(); // sees the last report again when its informer lists
    await b.flushNow();
    await report(b, T0 + 15000, 8.5); // 10 s across 04:00: half in each hour
    got = await read();
    expect(got.instances.map((r) => [r.hour, r.cpuSeconds, r.seconds])).toEqual([
      ['2026-12-05T03:00:00.000Z', 6, 10],
      ['2026-12-05T04:00:00.000Z', 2.5, 5],
    ]);
    expect((await read('p')).nodes).toEqual([]);
    expect((await read('other')).instances).toEqual([]);
  });

  it('refuses to overwrite what another controller wrote, loads the store again and continues from it', async () => {
    const a = await controller();
    const b = await controller(); // a second leader, as for a moment around a takeover
    await report(a, T0, 1); // a writes first; b counted the same report
    await expect(b.flushNow()).rejects.toThrow(/written by another server/);
    await report(b, T0 + 5000, 2); // b continues from what a wrote
    expect((await read()).instances[0]).toMatchObject({ cpuSeconds: 2, seconds: 5 });
    await expect(a.flushNow()).rejects.toThrow(/written by another server/);
    expect((await read()).instances[0]).toMatchObject({ cpuSeconds: 2, seconds: 5 }); // b's, untouched
  });

  it('does not count a report dated far ahead of its clock, and says so', async () => {
    const a = await controller();
    await report(a, T0, 1);
    await report(a, T0 + 3_600_000, 50);
    expect(a.lastProblem()).toMatch(/^metering: node n1's report is dated 2026-12-05T04:59:50.000Z, more than 10 min ahead/);
    await report(a, T0 + 5000, 2); // the node's clock is right again: counted from its last counted report
    expect(a.lastProblem()).toBe('');
    expect(logged).toHaveLength(1);
    expect((await read()).instances.map((r) => [r.hour, r.cpuSeconds, r.seconds])).toEqual([['2026-12-05T03:00:00.000Z', 2, 5]]);
  });

  it('deletes hours past retention', async () => {
    const old = meteringKeys.project('2025-01-01T00:00:00.000Z', 'p', 0);
    const kept = meteringKeys.project('2026-11-01T00:00:00.000Z', 'p', 0);
    for (const key of [old, kept]) await repo.records.txn([{ op: 'put', key, value: JSON.stringify({ instances: [], volumes: [] }) }]);
    const a = await controller({ retentionDays: 100 });
    await a.flushNow();
    expect(await repo.records.get(old)).toBeUndefined();
    expect(await repo.records.get(kept)).toBeDefined();
  });
});
