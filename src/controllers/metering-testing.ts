/**
 * The metering controller's test fixture (controllers/metering*.test.ts): a memory store with a
 * Running instance `p/web` (500m, 2 GiB, started a minute before `t0`) on node `n1` (pool `cpu`,
 * 4 cores, 8 GiB), a fake clock at `t0`, controllers started on them, and n1's usage reports.
 */
import { MemoryBackend } from '../store/memory.js';
import { Repository } from '../store/repository.js';
import { FakeClock, sequentialIds } from '../model/runtime.js';
import { instanceKind, nodeKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Node } from '../model/kinds/node.js';
import { usageKeys } from '../model/keyspace.js';
import type { NodeUsageReport } from '../model/usage.js';
import { Informers } from '../runtime/informers.js';
import { MeteringController, type MeteringOptions } from './metering.js';

export interface MeteringFixture {
  clock: FakeClock;
  repo: Repository;
  /** The instance's uid. */
  uid: string;
  /** What the controllers logged. */
  logged: string[];
  /** A controller started on the store (flushes and volume ticks only when asked). */
  controller(options?: Partial<MeteringOptions>): Promise<MeteringController>;
  /** Stores n1's report of `cpuSeconds` at `atMs`, and lets `ctl` count it (and write). */
  report(ctl: MeteringController, atMs: number, cpuSeconds: number): Promise<void>;
  /** Stops every controller started. */
  stop(): Promise<void>;
}

export async function meteringFixture(t0: number): Promise<MeteringFixture> {
  const clock = new FakeClock(t0);
  const repo = new Repository(new MemoryBackend(), clock, sequentialIds());
  const i = await repo.create<Instance>(instanceKind, { metadata: { name: 'web', project: 'p' }, spec: { driver: 'process', command: ['x'], resources: { cpu: 500, memory: 2048, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10 } } as never);
  const uid = i.metadata.uid;
  await repo.setStatus(instanceKind, i, { phase: 'Running', node: 'n1', startedAt: new Date(t0 - 60_000).toISOString() } as never);
  const n = await repo.create<Node>(nodeKind, { metadata: { name: 'n1' }, spec: { pool: 'cpu' } } as never);
  await repo.setStatus(nodeKind, n, { phase: 'Ready', capacity: { cpu: 4000, memory: 8192, disk: 0, gpus: [] } } as never);
  const running: MeteringController[] = [];
  const logged: string[] = [];
  const informersOf = new Map<MeteringController, Informers>();
  return {
    clock, repo, uid, logged,
    async controller(options = {}) {
      const informers = new Informers(repo);
      const ctl = new MeteringController(repo, { informers, clock, flushMs: 3_600_000, volumeTickMs: 3_600_000, log: (m) => logged.push(m), ...options });
      await ctl.start();
      running.push(ctl);
      informersOf.set(ctl, informers);
      return ctl;
    },
    async report(ctl, atMs, cpuSeconds) {
      const r: NodeUsageReport = { node: 'n1', at: new Date(atMs).toISOString(), intervalMs: 5000, cpu: 0, memory: 0, services: [], instances: [{ uid, project: 'p', name: 'web', cpu: 0, cpuSeconds, memory: 1024 }] };
      const { revision } = await repo.records.txn([{ op: 'put', key: usageKeys.key('n1'), value: JSON.stringify(r) }]);
      const informer = informersOf.get(ctl)!.records(usageKeys.prefix);
      for (let k = 0; k < 1000 && informer.revision < revision; k++) await new Promise((res) => setImmediate(res));
      await ctl.flushNow();
    },
    async stop() {
      for (const c of running.splice(0)) await c.stop();
    },
  };
}
