/**
 * Chaos: agents and nodes die under a highly available control plane.
 *
 * Three servers on one etcd cluster, two real agents given every server's URL, INSTANCES `sleep`
 * instances (restart policy always) spread over both.
 * - Agent SIGKILL and restart: the agent of node ca dies and starts again on its data dir; every
 *   workload of ca was left running and is re-attached: same pid, same restart count, alive.
 * - Node SIGKILL: node cb's machine dies (its agent and every workload SIGKILLed, nothing
 *   restarted), and so does the leading server right after; the new leader's node controller marks
 *   cb Down after the node timeout, and every instance of cb runs again on ca (100 %), once.
 * Afterwards cb's agent starts again on its data dir, which destroys what its dead runs left.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { etcdMissing, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { startHa, type Ha } from '../helpers/ha.js';
import { agentForgotAll, alive, killWorkloads, sleep, startAgentProcess, until, type AgentProcess } from '../helpers/processes.js';
import { report, SCALE } from './report.js';

const skip = process.getuid?.() !== 0 ? 'needs root (agents run workloads with runc)' : etcdMissing();
const INSTANCES = SCALE === 'soak' ? 100 : 20;
const NODE_TIMEOUT_S = 6;
const PATH = '/v1/projects/default/instances';
const SELECTOR = `${PATH}?selector=${encodeURIComponent('chaos=agents')}`;
const NODES = ['ca', 'cb'] as const;
type NodeName = (typeof NODES)[number];

interface Inst { metadata: { name: string; uid: string }; status?: { phase: string; node?: string; pid?: number; restarts?: number } }

let etcd: EtcdCluster;
let ha: Ha;
let dir: string;
let joinToken: string;
const agents = new Map<NodeName, AgentProcess>();

/** Starts (or starts again, on the same data dir) the agent of `node`. */
async function startAgent(node: NodeName): Promise<void> {
  agents.set(node, await startAgentProcess(ha.urls, joinToken, join(dir, node), node, ['--heartbeat', '1s', '--capacity', 'cpu=8,memory=8Gi']));
}

const running = (a: AgentProcess | undefined) => a !== undefined && a.proc.exitCode === null && a.proc.signalCode === null;

beforeAll(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'stratus-chaos-agents-'));
  etcd = await startEtcd({ members: 3 });
  ha = await startHa({ store: etcd.endpoints, servers: 3, args: ['--node-timeout', `${NODE_TIMEOUT_S}s`] });
  joinToken = (await ha.api()('POST', '/v1/join-tokens', {})).body.secret as string;
  for (const node of NODES) await startAgent(node);
}, 120_000);

afterAll(async () => {
  // Best effort: a failure above must not be hidden by one here. A dead node's agent starts
  // again first: it destroys what its killed runs left (runc state, cgroups).
  try {
    for (const node of NODES) if (ha && !running(agents.get(node))) await startAgent(node);
    if (ha) {
      for (const i of (await ha.api()('GET', SELECTOR)).body.items as Inst[]) await ha.api()('DELETE', `${PATH}/${i.metadata.name}`);
      for (const node of NODES) await agentForgotAll(join(dir, node));
    }
  } catch (e) {
    console.error(`cleanup: ${(e as Error).message}`);
  }
  for (const a of agents.values()) await a.stop();
  await ha?.stop();
  await etcd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 240_000);

function instance(name: string) {
  return {
    kind: 'instance', metadata: { name, labels: { chaos: 'agents' } },
    spec: {
      driver: 'process', command: ['sleep', '3600'], restartPolicy: 'always', gracePeriod: 0, resources: { cpu: '10m', memory: '16Mi' },
      placement: { policy: 'spread', antiAffinity: [{ selector: 'chaos=agents', required: false }] },
    },
  };
}

const list = async (): Promise<Inst[]> => (await ha.api()('GET', SELECTOR)).body.items as Inst[];
const isRunning = (i: Inst | undefined) => i?.status?.phase === 'Running' && i.status.pid !== undefined;
const show = () => [...agents].map(([n, a]) => `${n}: ${a.out().slice(-1000)}`).join('\n');
const heartbeat = async (node: NodeName) => Date.parse((await ha.api()('GET', `/v1/nodes/${node}`)).body.status?.lastHeartbeat ?? '');

describe.skipIf(Boolean(skip))('agent and node SIGKILL', () => {
  let placed: Inst[] = [];

  it(`spreads ${INSTANCES} instances over both nodes`, async () => {
    for (let n = 0; n < INSTANCES; n++) expect((await ha.api()('POST', PATH, instance(`c${n}`))).status).toBe(201);
    placed = await until(`${INSTANCES} instances running`, list, (items) => items.length === INSTANCES && items.every(isRunning), 120_000, show);
    for (const node of NODES) expect(placed.filter((i) => i.status!.node === node).length, node).toBeGreaterThan(0);
  }, 180_000);

  it('agent SIGKILL and restart: every workload keeps running, none restarted', async () => {
    const before = placed.filter((i) => i.status!.node === 'ca');
    const killedAt = Date.now();
    await agents.get('ca')!.kill();
    await sleep(1_000);
    const startedAt = Date.now();
    await startAgent('ca');
    await until('ca reports again', () => heartbeat('ca'), (t) => t >= startedAt, 30_000, show);
    const recoverMs = Date.now() - killedAt;
    // it re-attached to every run, and has had a few heartbeats' time to (wrongly) restart any
    await until('ca re-attached to its runs', async () => agents.get('ca')!.out().match(/re-attached to /g)?.length ?? 0, (n) => n >= before.length, 30_000, show);
    await sleep(3_000);

    const now = new Map((await list()).map((i) => [i.metadata.uid, i]));
    const shape = (i: Inst | undefined) => ({ name: i?.metadata.name, phase: i?.status?.phase, node: i?.status?.node, pid: i?.status?.pid, restarts: i?.status?.restarts ?? 0 });
    const restarted = before.filter((i) => now.get(i.metadata.uid)?.status?.pid !== i.status!.pid || (now.get(i.metadata.uid)?.status?.restarts ?? 0) !== (i.status!.restarts ?? 0));
    const dead = before.filter((i) => !isRunning(now.get(i.metadata.uid)) || !alive(now.get(i.metadata.uid)!.status!.pid!));
    report({
      scenario: 'agent SIGKILL and restart', fault: `1 agent SIGKILLed, started again 1 s later (${before.length} of ${INSTANCES} workloads on it)`,
      operations: before.length, lost: dead.length, duplicated: restarted.length, recoverMs: [recoverMs],
      notes: `duplicated: workloads restarted (0 expected); recover: kill to the node's first heartbeat; scale ${SCALE}`,
    });
    expect(before.map((i) => shape(now.get(i.metadata.uid)))).toEqual(before.map(shape));
    expect(dead.map((i) => i.metadata.name)).toEqual([]);
  }, 120_000);

  it('node SIGKILL (and the leader with it): every always instance of the node runs again on the other', async () => {
    const lostNode = placed.filter((i) => i.status!.node === 'cb');
    const killedAt = Date.now();
    await agents.get('cb')!.kill();
    await killWorkloads(join(dir, 'cb'));
    // the leader dies before the node times out: the next leader's node controller moves them
    const leader = await ha.waitLeader();
    await leader.kill();
    const next = await ha.waitLeader(30_000, leader);

    const replacedIn = (items: Inst[]) => lostNode.filter((l) => items.some((i) => i.metadata.uid === l.metadata.uid && i.status?.node === 'ca' && isRunning(i)));
    // on a timeout, what there is then: the report and the assertions below say what is missing
    const moved = await until(`the ${lostNode.length} instances of cb running on ca`, list, (items) => replacedIn(items).length === lostNode.length, 120_000, show)
      .catch(async (e: Error) => (console.error(e.message), list()));
    const recoverMs = Date.now() - killedAt;
    await leader.start();
    const node = (await ha.api()('GET', '/v1/nodes/cb')).body as { status: { phase: string } };
    const replaced = replacedIn(moved);
    report({
      scenario: 'node SIGKILL', fault: `1 node's agent and workloads SIGKILLed (${lostNode.length} of ${INSTANCES} instances on it), the leader SIGKILLed right after`,
      operations: lostNode.length, lost: lostNode.length - replaced.length, duplicated: Math.max(0, moved.length - INSTANCES), recoverMs: [recoverMs],
      notes: `recover: node kill to every instance running on the other node (node timeout ${NODE_TIMEOUT_S} s); ${((100 * replaced.length) / lostNode.length).toFixed(0)} % replaced; scale ${SCALE}`,
    });
    expect(next).not.toBe(leader);
    expect(node.status.phase).toBe('Down');
    expect(lostNode.filter((l) => !replaced.includes(l)).map((l) => l.metadata.name)).toEqual([]);
    expect(moved.map((i) => i.metadata.name).sort()).toEqual(placed.map((i) => i.metadata.name).sort());
    expect(moved.filter((i) => i.status?.node !== 'ca' || !isRunning(i)).map((i) => i.metadata.name)).toEqual([]);
  }, 180_000);
});
