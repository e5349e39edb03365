/**
 * Chaos: the leading server SIGKILLed while a service rolls out a new version.
 *
 * Three servers on one etcd cluster, two real agents given every server's URL. A service of
 * REPLICAS `sleep` replicas (maxSurge SURGE, maxUnavailable 0) runs; a new template starts a
 * rollout; when 30 % of the replicas are replaced (soak: 25, 50 and 75 %), the leader is
 * SIGKILLed (and started again once another leads and the rollout went on). A watch through the failing-over client follows the replicas: after
 * every event it counts them as the rollout rule does (src/controllers/rollout.ts: not finished,
 * not draining), and that count never exceeds replicas + maxSurge. The rollout completes: every
 * replica runs the new version and is ready.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, parseServers, type WatchMessage } from '../../src/client/index.js';
import { isDraining, isReady } from '../../src/controllers/rollout.js';
import { FINISHED } from '../../src/model/lifecycle.js';
import { REVISION_LABEL } from '../../src/model/kinds/service.js';
import type { Instance } from '../../src/model/kinds/instance.js';
import { etcdMissing, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { startHa, type Ha } from '../helpers/ha.js';
import { agentForgotAll, startAgentProcess, until, type AgentProcess } from '../helpers/processes.js';
import { report, SCALE } from './report.js';

const skip = process.getuid?.() !== 0 ? 'needs root (agents run workloads with runc)' : etcdMissing();
const REPLICAS = 100;
const SURGE = 10;
/** When the leader is killed: the fractions of the replicas replaced by then. */
const KILL_AT = SCALE === 'soak' ? [0.25, 0.5, 0.75] : [0.3];
const SERVICES = '/v1/projects/default/services';
const INSTANCES = '/v1/projects/default/instances';
const SELECTOR = 'stratus.io/service=web';

let etcd: EtcdCluster;
let ha: Ha;
let dir: string;
const agents: AgentProcess[] = [];

beforeAll(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'stratus-chaos-rollout-'));
  etcd = await startEtcd({ members: 3 });
  ha = await startHa({ store: etcd.endpoints, servers: 3 });
  const token = (await ha.api()('POST', '/v1/join-tokens', {})).body.secret as string;
  for (const name of ['ra', 'rb']) {
    agents.push(await startAgentProcess(ha.urls, token, join(dir, name), name, ['--heartbeat', '1s', '--capacity', 'cpu=8,memory=8Gi']));
  }
}, 120_000);

afterAll(async () => {
  // Best effort: a failure above must not be hidden by one here.
  try {
    if (ha) {
      await ha.api()('DELETE', `${SERVICES}/web`);
      await until('the replicas deleted', async () => (await ha.api()('GET', `${INSTANCES}?selector=${encodeURIComponent(SELECTOR)}`)).body.items?.length, (n) => n === 0, 120_000);
      for (const name of ['ra', 'rb']) await agentForgotAll(join(dir, name));
    }
  } catch (e) {
    console.error(`cleanup: ${(e as Error).message}`);
  }
  for (const a of agents) await a.stop();
  await ha?.stop();
  await etcd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 240_000);

function service(env: Record<string, string>) {
  return {
    kind: 'service', metadata: { name: 'web' },
    spec: {
      replicas: REPLICAS,
      template: { spec: { driver: 'process', command: ['sleep', '3600'], env, gracePeriod: 0, resources: { cpu: '10m', memory: '16Mi' } } },
      update: { maxSurge: SURGE, maxUnavailable: 0, progressDeadline: 3600, autoRollback: false },
    },
  };
}

/**
 * The service's replicas as a watch through the failing-over client sees them, and after every
 * event the count the rollout rule bounds: replicas not finished and not draining.
 */
class ReplicaWatch {
  readonly replicas = new Map<string, Instance>();
  /** The largest count seen, and the events that led to it (for a failure's message). */
  max = { live: 0, events: [] as string[] };
  private readonly recent: string[] = [];
  /** Replicas of `revision` deleted so far. */
  readonly deleted = new Map<string, number>();
  /** When each replica's creation was seen, and its createdAt. */
  readonly created: { seenAt: number; createdAt: number }[] = [];
  error: Error | undefined;
  private readonly stop = new AbortController();
  private done: Promise<void> | undefined;

  start(api: ApiClient, from: number): void {
    this.done = api.watch(INSTANCES, from, { selector: SELECTOR }, (m) => this.on(m), this.stop.signal).catch((e: Error) => void (this.error = e));
  }

  /** Starts counting again (deletes and the largest count) for the next phase; returns the largest count so far. */
  restart(): number {
    const max = this.max.live;
    this.max = { live: this.live(), events: [] };
    this.deleted.clear();
    return max;
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.done;
  }

  live(): number {
    return [...this.replicas.values()].filter((i) => !FINISHED.has(i.status?.phase ?? 'Pending') && !isDraining(i)).length;
  }

  /** Ready replicas of `revision`. */
  ready(revision: string): number {
    return [...this.replicas.values()].filter((i) => i.metadata.labels?.[REVISION_LABEL] === revision && isReady(i) && !isDraining(i)).length;
  }

  private on(m: WatchMessage): void {
    if ((m.type !== 'put' && m.type !== 'delete') || !m.object) return;
    const i = m.object as unknown as Instance;
    const revision = i.metadata.labels?.[REVISION_LABEL] ?? '';
    if (m.type === 'delete') {
      this.replicas.delete(i.metadata.name);
      this.deleted.set(revision, (this.deleted.get(revision) ?? 0) + 1);
    } else {
      if (!this.replicas.has(i.metadata.name)) this.created.push({ seenAt: Date.now(), createdAt: Date.parse(i.metadata.createdAt) });
      this.replicas.set(i.metadata.name, i);
    }
    const live = this.live();
    this.recent.push(`@${m.revision} ${m.type} ${i.metadata.name} (revision ${revision}, ${i.status?.phase}): ${live}`);
    if (this.recent.length > 12) this.recent.shift();
    if (live > this.max.live) this.max = { live, events: [...this.recent] };
  }
}

describe.skipIf(Boolean(skip))('leader SIGKILL during a rollout', () => {
  it(`completes a rollout of ${REPLICAS} replicas, never above replicas + maxSurge`, async () => {
    const api = new ApiClient(parseServers(ha.urls), ha.token, { watchIdleMs: 5_000 });
    const watch = new ReplicaWatch();
    watch.start(api, (await api.request<{ revision: number }>('GET', INSTANCES)).revision);
    const show = () => `watch: ${watch.error?.message ?? 'ok'}; ${agents.map((a) => a.out().slice(-800)).join('\n')}`;
    try {
      const t0 = Date.now();
      await api.request('POST', SERVICES, { body: service({ ROLL: '1' }) });
      await until(`${REPLICAS} replicas ready`, async () => watch.ready('1'), (n) => n === REPLICAS, 300_000, show);
      const upMs = Date.now() - t0;

      // the new version; the leader dies once about 30 % of the replicas are replaced
      const t1 = Date.now();
      const upMax = watch.restart();
      await api.request('PATCH', `${SERVICES}/web`, { body: { spec: { template: { spec: { env: { ROLL: '2' } } } } }, contentType: 'application/merge-patch+json' });
      const recoverMs: number[] = [];
      for (const at of KILL_AT) {
        await until(`${at * 100} % replaced`, async () => watch.deleted.get('1') ?? 0, (n) => n >= REPLICAS * at, 300_000, show);
        const leader = await ha.waitLeader();
        const killedAt = Date.now();
        await leader.kill();
        expect(await ha.waitLeader(30_000, leader)).not.toBe(leader);
        const progress = await until('a replica created after the kill', async () => watch.created.find((c) => c.createdAt > killedAt), (c) => c !== undefined, 60_000, show);
        recoverMs.push(progress!.seenAt - killedAt);
        await leader.start();
      }

      const done = await until('the rollout complete', async () => ({
        ready: watch.ready('2'), live: watch.live(), status: (await api.request<{ status: { phase: string; revision: number; updated: number; available: number } }>('GET', `${SERVICES}/web`)).status,
      }), (s) => s.ready === REPLICAS && s.live === REPLICAS && s.status.phase === 'Available' && s.status.available === REPLICAS, 300_000, show);
      const rolloutMs = Date.now() - t1;
      await watch.close();

      report({
        scenario: 'leader SIGKILL during a rollout', fault: `leader SIGKILLed at ${KILL_AT.map((f) => `${f * 100} %`).join(', ')} of a ${REPLICAS}-replica rollout (maxSurge ${SURGE})`,
        operations: watch.deleted.get('1') ?? 0, lost: REPLICAS - done.ready, duplicated: Math.max(0, watch.max.live - (REPLICAS + SURGE)), recoverMs,
        notes: `at most ${watch.max.live} replicas at once (bound ${REPLICAS + SURGE}; ${upMax} while scaling up to ${REPLICAS}); ${REPLICAS} up in ${(upMs / 1000).toFixed(0)} s, rollout ${(rolloutMs / 1000).toFixed(0)} s; scale ${SCALE}`,
      });
      expect(watch.error).toBeUndefined();
      expect(watch.max.live, `${watch.max.live} replicas after:\n${watch.max.events.join('\n')}`).toBeLessThanOrEqual(REPLICAS + SURGE);
      expect(done.status.revision).toBe(2);
      expect([...watch.replicas.values()].filter((i) => i.metadata.labels?.[REVISION_LABEL] !== '2').map((i) => i.metadata.name)).toEqual([]);
    } finally {
      await watch.close();
    }
  }, 900_000);
});
