import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import type { Repository } from '../store/repository.js';
import type { FakeClock } from '../model/runtime.js';
import { meteringDayKeys } from '../model/keyspace.js';
import { DAY_MS, HOUR_MS } from '../model/metering.js';
import { StoreMeterReader } from '../runtime/metering-store.js';
import type { MeteringController } from './metering.js';
import { meteringFixture, type MeteringFixture } from './metering-testing.js';

const DAY = '2026-12-04T00:00:00.000Z';
const T0 = Date.parse('2026-12-04T23:59:50.000Z'); // 10 s before the day ends
let f: MeteringFixture;
let clock: FakeClock;
let repo: Repository;

const controller = (): Promise<MeteringController> => f.controller();
const report = (ctl: MeteringController, atMs: number, cpuSeconds: number): Promise<void> => f.report(ctl, atMs, cpuSeconds);

/** The day's stored rollup records (key → value). */
async function rollup(): Promise<Map<string, string>> {
  return new Map((await repo.records.range(meteringDayKeys.day(DAY))).items.map((kv) => [kv.key, kv.value]));
}

const read = () => new StoreMeterReader(repo.records).read({ since: new Date(Date.parse(DAY)), until: new Date(Date.parse(DAY) + 2 * DAY_MS), daily: { splits: [] } });

beforeEach(async () => {
  f = await meteringFixture(T0);
  ({ clock, repo } = f);
});

afterEach(async () => {
  await f.stop();
});

describe('MeteringController: daily rollups', () => {
  it('rolls a day up once it is settled (2 h after its end), once; readers then get the day as one row', async () => {
    const a = await controller();
    await report(a, T0, 1);
    await report(a, T0 + 5000, 3.5); // 5 s of the day
    await report(a, T0 + 15_000, 8.5); // 5 s of it, 5 s of the next
    clock.advance(HOUR_MS); // the day is over, not settled
    expect(await a.rollupNow()).toEqual([]);
    expect((await read()).instances.map((m) => m.hour)).toEqual(['2026-12-04T23:00:00.000Z', '2026-12-05T00:00:00.000Z']);
    clock.advance(HOUR_MS + 10_000); // 02:00
    expect(await a.rollupNow()).toEqual([DAY]);
    const first = await rollup();
    expect(await a.rollupNow()).toEqual([]); // idempotent: done once
    expect(await rollup()).toEqual(first);
    const got = await read();
    expect(got.instances.map((m) => [m.hour, m.seconds, m.cpuSeconds, m.cpuChargedSeconds])).toEqual([[DAY, 10, 6, 6], ['2026-12-05T00:00:00.000Z', 5, 2.5, undefined]]);
    expect(got.nodes.map((n) => [n.hour, n.seconds, n.idle])).toEqual([[DAY, 10, { cpuCoreSeconds: 35, memoryGiBSeconds: 60 }], ['2026-12-05T00:00:00.000Z', 5, undefined]]);
  });

  it('a new leader neither rolls a day up again nor differs when it must (its marker lost)', async () => {
    const a = await controller();
    await report(a, T0, 1);
    await report(a, T0 + 5000, 3.5);
    clock.advance(2 * HOUR_MS + 10_000);
    expect(await a.rollupNow()).toEqual([DAY]);
    const first = await rollup();
    await a.stop();
    const b = await controller();
    expect(await b.rollupNow()).toEqual([]);
    expect(await rollup()).toEqual(first);
    await b.stop();
    await repo.records.txn([{ op: 'delete', key: meteringDayKeys.done(DAY) }]); // as if a leader stopped between its records and its marker
    const c = await controller(); // rolls up at start
    await c.rollupNow();
    expect(await repo.records.get(meteringDayKeys.done(DAY))).toBeDefined();
    expect(await rollup()).toEqual(first);
  });

  it('a late write to a rolled-up day withdraws its rollup (readers take its hours), and the next pass includes it', async () => {
    const a = await controller();
    await report(a, T0, 1);
    await report(a, T0 + 5000, 3.5);
    clock.advance(3 * HOUR_MS);
    expect(await a.rollupNow()).toEqual([DAY]);
    await report(a, T0 + 8000, 5.5); // the node's clock is behind: its report lands in the rolled-up day
    expect(await repo.records.get(meteringDayKeys.done(DAY))).toBeUndefined();
    expect((await read()).instances.map((m) => [m.hour, m.cpuSeconds])).toEqual([['2026-12-04T23:00:00.000Z', 5.5]]);
    expect(await a.rollupNow()).toEqual([DAY]);
    expect((await read()).instances.map((m) => [m.hour, m.seconds, m.cpuSeconds])).toEqual([[DAY, 8, 5.5]]);
  });
});
