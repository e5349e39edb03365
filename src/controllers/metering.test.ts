import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import type { Repository } from '../store/repository.js';
import { meteringKeys } from '../model/keyspace.js';
import { StoreMeterReader } from '../runtime/metering-store.js';
import type { MeteringController } from './metering.js';
import { meteringFixture, type MeteringFixture } from './metering-testing.js';

const T0 = Date.parse('2026-12-05T03:59:50.000Z');
let f: MeteringFixture;
let repo: Repository;
let uid: string;
let logged: string[];

const controller = (options: { retentionDays?: number } = {}): Promise<MeteringController> => f.controller(options);
const report = (ctl: MeteringController, atMs: number, cpuSeconds: number): Promise<void> => f.report(ctl, atMs, cpuSeconds);
const read = (project?: string) => new StoreMeterReader(repo.records).read({ since: new Date(T0 - 3_600_000), until: new Date(T0 + 7_200_000), ...(project ? { project } : {}) });

beforeEach(async () => {
  f = await meteringFixture(T0);
  ({ repo, uid, logged } = f);
});

afterEach(async () => {
  await f.stop();
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
