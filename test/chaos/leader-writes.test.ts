/**
 * Chaos: the leading server SIGKILLed, round after round, while several clients write and watch.
 *
 * Clients are configured with every server's URL (the typed client fails over by itself). Each
 * round kills whichever server leads, waits for another to lead, and starts the killed one again.
 * At the end: every acknowledged write is in the store (0 lost), no object exists twice, and each
 * watcher, resuming from its last revision across the kills, saw every creation exactly once.
 * Also the user's view: `stratus get servers` and `stratus cluster status` name the leader and
 * the store's members.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, ApiError, parseServers, ResyncError, type WatchMessage } from '../../src/client/index.js';
import { etcdMissing, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { startHa, type Ha } from '../helpers/ha.js';
import { cliRunner } from '../helpers/cli.js';
import { sleep, until } from '../helpers/processes.js';
import { report, SCALE } from './report.js';

const skip = etcdMissing();
const ROUNDS = SCALE === 'soak' ? 20 : 5;
const WRITERS = 4;
const WATCHERS = 2;
const PROJECT = 'default';
const INSTANCES = `/v1/projects/${PROJECT}/instances`;

let etcd: EtcdCluster;
let ha: Ha;
let dir: string;

beforeAll(async () => {
  if (skip) return;
  etcd = await startEtcd({ members: 3 });
  ha = await startHa({ store: etcd.endpoints, servers: 3 });
  dir = mkdtempSync(join(tmpdir(), 'stratus-chaos-'));
}, 120_000);

afterAll(async () => {
  await ha?.stop();
  await etcd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function body(name: string) {
  return { kind: 'instance', metadata: { name, labels: { chaos: 'writes' } }, spec: { driver: 'process', command: ['sleep', '3600'], resources: { cpu: '10m', memory: '16Mi' } } };
}

describe.skipIf(Boolean(skip))('leader SIGKILL during writes', () => {
  it('shows the servers, the leader and the store', async () => {
    const cli = cliRunner(join(dir, 'config.json'));
    expect((await cli(['--server', ha.urls, '--token', ha.token, 'login'])).code).toBe(0);
    const leader = await ha.waitLeader();
    const servers = await cli(['get', 'servers', '-o', 'json']);
    expect(servers.code, servers.stderr).toBe(0);
    const items = (JSON.parse(servers.stdout) as { items: { name: string; url: string; status: { leader: boolean } }[] }).items;
    expect(items.map((s) => s.name).sort()).toEqual(['s0', 's1', 's2']);
    expect(items.filter((s) => s.status.leader).map((s) => s.name)).toEqual([leader.name]);
    expect(items.find((s) => s.name === 's1')!.url).toBe(ha.servers[1]!.url);
    const status = await cli(['cluster', 'status']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`leader: ${leader.name}`);
    expect(status.stdout).toMatch(/Store: etcd at revision \d+, 3\/3 members healthy/);
  });

  it(`loses no acknowledged write and no watch event over ${ROUNDS} leader kills`, async () => {
    const urls = parseServers(ha.urls);
    const acked = new Set<string>();
    const uncertain = new Set<string>();
    const refused: string[] = [];
    const ackTimes: number[] = [];
    let writing = true;
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      const api = new ApiClient(urls, ha.token);
      for (let n = 0; writing; n++) {
        const name = `w${w}-${n}`;
        try {
          await api.request('POST', INSTANCES, { body: body(name) });
          acked.add(name);
          ackTimes.push(Date.now());
        } catch (e) {
          // 503 (store unavailable) or a reset mid-request: it may or may not have been applied
          if (e instanceof ApiError && e.status < 500) refused.push(`${name}: ${e.message}`);
          else uncertain.add(name);
          await sleep(50);
        }
      }
    });

    const start = (await new ApiClient(urls, ha.token).request<{ revision: number }>('GET', INSTANCES)).revision;
    const seen = Array.from({ length: WATCHERS }, () => new Map<string, number>());
    const duplicates: string[] = [];
    const stop = new AbortController();
    const watchers = seen.map(async (events, i) => {
      const api = new ApiClient(urls, ha.token, { watchIdleMs: 5_000 });
      await api.watch(INSTANCES, start, {}, (m: WatchMessage) => {
        if (m.type !== 'put' && m.type !== 'delete') return;
        const name = (m.object as { metadata: { name: string } }).metadata.name;
        const id = `${m.type} ${name} @${m.revision}`;
        if (events.has(id)) duplicates.push(`watcher ${i}: ${id}`);
        events.set(id, m.revision!);
      }, stop.signal).catch((e: Error) => {
        if (!(e instanceof ResyncError)) throw e;
        throw new Error(`watcher ${i} had to resync: ${e.message}`);
      });
    });

    const recover: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      await sleep(1_500);
      const leader = await ha.waitLeader();
      const killedAt = Date.now();
      await leader.kill();
      const next = await ha.waitLeader(30_000, leader);
      // recovered: a new leader, and a write acknowledged after the kill
      await until('a write acknowledged after the kill', async () => ackTimes.filter((t) => t > killedAt).length, (n) => n > 0, 30_000);
      recover.push(Math.max(Date.now() - killedAt, 0));
      expect(next).not.toBe(leader);
      await leader.start();
    }
    writing = false;
    await Promise.all(writers);

    // every watcher catches up with the store
    const api = new ApiClient(urls, ha.token);
    const list = await api.listAll<{ metadata: { name: string } }>(INSTANCES, { selector: 'chaos=writes' });
    const names = list.items.map((i) => i.metadata.name);
    await until('the watchers caught up', async () => seen.map((m) => [...m.keys()].filter((k) => k.startsWith('put ')).length), (counts) => counts.every((c) => c >= names.length), 30_000);
    stop.abort();
    await Promise.all(watchers);

    const present = new Set(names);
    const lost = [...acked].filter((n) => !present.has(n));
    const twice = names.filter((n, i) => names.indexOf(n) !== i);
    const unknownCreated = [...uncertain].filter((n) => present.has(n)).length;
    for (const [i, events] of seen.entries()) {
      const created = new Set([...events.keys()].filter((k) => k.startsWith('put ')).map((k) => k.split(' ')[1]!));
      expect([...present].filter((n) => !created.has(n)), `watcher ${i} missed creations`).toEqual([]);
    }
    report({
      scenario: 'leader SIGKILL during writes', fault: `${ROUNDS} leader SIGKILLs, ${WRITERS} writers, ${WATCHERS} watchers`,
      operations: acked.size, lost: lost.length, duplicated: twice.length + duplicates.length, recoverMs: recover,
      notes: `${uncertain.size} writes with an unknown outcome (503 or reset; ${unknownCreated} of them applied), ${refused.length} refused`,
    });
    expect(refused).toEqual([]);
    expect(lost).toEqual([]);
    expect(twice).toEqual([]);
    expect(duplicates).toEqual([]);
    expect(acked.size).toBeGreaterThan(ROUNDS * 10);
  }, 300_000);
});
