/**
 * Failover rounds of the HA benchmark (bench/ha.ts), on three `stratus server` processes sharing a
 * three-member etcd cluster (test/helpers/ha.ts, test/helpers/etcd.ts) and one real agent.
 *
 * A Stratus round: SIGKILL the leading server; at once create an instance through a survivor, and
 * time, from the signal, (1) a survivor's GET /v1/servers naming another leader and (2) the
 * instance bound to the agent's node (status.node set, phase Scheduled or later). The instance is
 * created after the old leader has exited, so only the new leader can have bound it: (2) is the
 * first scheduling decision of the new leader. The killed server is started again afterwards.
 *
 * The peer round, on the same members: SIGKILL the etcd member that leads, time until a surviving
 * member names another leader, start the member again. Rounds alternate which kill comes first.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { EtcdCluster } from '../../test/helpers/etcd.js';
import type { Ha, HaServer } from '../../test/helpers/ha.js';
import { client, instance } from '../../test/helpers/server.js';
import { agentForgotAll, sleep, startAgentProcess, until, type AgentProcess } from '../../test/helpers/processes.js';

export interface FailoverRound {
  /** SIGKILL of the leading server → a survivor's /v1/servers names another leader (ms). */
  leaderMs: number;
  /** SIGKILL → the instance created after it is bound to a node (ms). */
  boundMs: number;
  /** SIGKILL of etcd's leading member → a survivor names another leader (ms). */
  etcdMs: number;
  load: number;
}

type Api = ReturnType<typeof client>;
const NODE = 'ha-bench-node';
const POLL_MS = 20;

/** Polls `done` every POLL_MS until it is true; returns the ms since `t0`. Throws after `ms`. */
async function timeUntil(what: string, t0: number, done: () => Promise<boolean>, ms = 60_000): Promise<number> {
  for (;;) {
    if (await done().catch(() => false)) return performance.now() - t0;
    if (performance.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(POLL_MS);
  }
}

/** Creates `name` through `api`, sending again after a 5xx or a connection error (a 409 means an earlier try was applied). */
async function create(api: Api, name: string): Promise<void> {
  for (;;) {
    const res = await api('POST', '/v1/projects/default/instances', instance(name, { resources: { cpu: '10m', memory: '16Mi' } }, { bench: 'failover' })).catch(() => undefined);
    if (res?.status === 201 || res?.status === 409) return;
    if (res && res.status < 500) throw new Error(`create ${name}: ${res.status} ${JSON.stringify(res.body)}`);
    await sleep(POLL_MS);
  }
}

async function bound(api: Api, name: string): Promise<boolean> {
  const res = await api('GET', `/v1/projects/default/instances/${name}`);
  return res.status === 200 && typeof (res.body as { status?: { node?: string } }).status?.node === 'string';
}

async function leaderOtherThan(api: Api, killed: string): Promise<boolean> {
  const res = await api('GET', '/v1/servers');
  return res.status === 200 && (res.body as { items: { name: string; status: { leader: boolean } }[] }).items.some((s) => s.status.leader && s.name !== killed);
}

/** Waits until a server leads and the agent's node is Ready (seen through the leader). */
async function steady(ha: Ha, agent: AgentProcess): Promise<HaServer> {
  const leader = await ha.waitLeader(60_000);
  const api = client(leader.url, ha.token);
  await until('the agent\'s node Ready', async () => (await api('GET', `/v1/nodes/${NODE}`)).body as { status?: { phase?: string } },
    (n) => n.status?.phase === 'Ready', 60_000, agent.out);
  return leader;
}

/** One Stratus failover: kill the leader, time the new leader and the first binding, start it again. */
async function stratusRound(ha: Ha, agent: AgentProcess, n: number): Promise<Pick<FailoverRound, 'leaderMs' | 'boundMs'>> {
  const leader = await steady(ha, agent);
  const api = client(ha.servers.find((s) => s !== leader && s.running)!.url, ha.token);
  const name = `failover-${n}`;
  const t0 = performance.now();
  await leader.kill();
  const [leaderMs, boundMs] = await Promise.all([
    timeUntil('another server leads', t0, () => leaderOtherThan(api, leader.name)),
    create(api, name).then(() => timeUntil(`${name} bound`, t0, () => bound(api, name))),
  ]);
  await api('DELETE', `/v1/projects/default/instances/${name}`);
  await leader.start();
  return { leaderMs, boundMs };
}

/** One etcd election: kill the leading member, time until a survivor names another leader, start it again. */
async function etcdRound(etcd: EtcdCluster): Promise<number> {
  const leader = await etcd.leader();
  if (!leader) throw new Error('etcd has no leader');
  const t0 = performance.now();
  await leader.kill('SIGKILL');
  const ms = await timeUntil('etcd elects another leader', t0, async () => {
    const now = await etcd.leader();
    return now !== undefined && now !== leader;
  });
  await leader.restart();
  await etcd.healthy(30_000);
  return ms;
}

/**
 * Runs `rounds` rounds (each: one Stratus failover and one etcd election, alternating which goes
 * first, after a pause of `pauseMs` for the cluster to settle), with one agent joined through
 * every server's URL. `report` is called after each round.
 */
export async function failoverRounds(ha: Ha, etcd: EtcdCluster, work: string, rounds: number, pauseMs: number, report: (n: number, r: FailoverRound) => void): Promise<FailoverRound[]> {
  const api = ha.api();
  const joinToken = (await api('POST', '/v1/join-tokens', {})).body.secret as string;
  const agent = await startAgentProcess(ha.urls, joinToken, join(work, 'agent'), NODE);
  const out: FailoverRound[] = [];
  try {
    for (let n = 0; n < rounds; n++) {
      await sleep(pauseMs);
      let etcdMs = n % 2 === 1 ? await etcdRound(etcd) : NaN;
      if (n % 2 === 1) await sleep(pauseMs);
      const stratus = await stratusRound(ha, agent, n);
      if (n % 2 === 0) {
        await sleep(pauseMs);
        etcdMs = await etcdRound(etcd);
      }
      out.push({ ...stratus, etcdMs, load: loadavg()[0]! });
      report(n, out.at(-1)!);
    }
    await agentForgotAll(join(work, 'agent'));
  } finally {
    await agent.stop();
  }
  return out;
}
