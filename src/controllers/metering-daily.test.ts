import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { MemoryBackend } from '../store/memory.js';
import { Repository } from '../store/repository.js';
import { FakeClock, sequentialIds } from '../model/runtime.js';
import { instanceKind, nodeKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Node } from '../model/kinds/node.js';
import { meteringDayKeys, usageKeys } from '../model/keyspace.js';
import { DAY_MS, HOUR_MS } from '../model/metering.js';
import type { NodeUsageReport } from '../model/usage.js';
import { Informers } from '../runtime/informers.js';
import { StoreMeterReader } from '../runtime/metering-store.js';
import { MeteringController } from './metering.js';

const DAY = '2026-12-04T00:00:00.000Z';
const T0 = Date.parse('2026-12-04T23:59:50.000Z'); // 10 s before the day ends
let clock: FakeClock;
let repo: Repository;
let uid: string;
const running: MeteringController[] = [];

async function controller(): Promise<MeteringController> {
  const ctl = new MeteringController(repo, { informers: new Informers(repo), clock, flushMs: 3_600_000, volumeTickMs: 3_600_000, log: () => undefined });
  await ctl.start();
  running.push(ctl);
  return ctl;
}

/** Stores node n1's report of cpuSeconds at `atMs`, and lets `ctl` count it (and write). */
async function report(ctl: MeteringController, atMs: number, cpuSeconds: number): Promise<void> {
  const r: NodeUsageReport = { node: 'n1', at: new Date(atMs).toISOString(), intervalMs: 5000, cpu: 0, memory: 0, services: [], instances: [{ uid, project: 'p', name: 'web', cpu: 0, cpuSeconds, memory: 1024 }] };
  const { revision } = await repo.records.txn([{ op: 'put', key: usageKeys.key('n1'), value: JSON.stringify(r) }]);
  const informer = (ctl as unknown as { options: { informers: Informers } }).options.informers.records(usageKeys.prefix);
  for (let i = 0; i < 1000 && informer.revision < revision; i++) await new Promise((res) => setImmediate(res));
  await ctl.flushNow();
}

/** The day's stored rollup records (key → value). */
async function rollup(): Promise<Map<string, string>> {
  return new Map((await repo.records.range(meteringDayKeys.day(DAY))).items.map((kv) => [kv.key, kv.value]));
}

const read = () => new StoreMeterReader(repo.records).read({ since: new Date(Date.parse(DAY)), until: new Date(Date.parse(DAY) + 2 * DAY_MS), daily: { splits: [] } });

beforeEach(async () => {
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
