/**
 * Node lifecycle controller (level triggered, runs on the leader).
 *
 * Every tick it reads nodes and instances and closes the gaps:
 * - a node whose agent has not reported for `heartbeatTimeoutMs` is marked Down, and every
 *   instance bound to it is released: Pending again (restart always) or Lost;
 * - on a draining node, running instances are asked to stop (phase Stopping, reason Drained);
 *   the agent stops each within its grace period and releases it;
 * - a Down node that reports again is Ready once more (the agent's next heartbeat says so).
 * Nodes that never reported a heartbeat (registered by hand) are left alone.
 *
 * Nodes are kept in memory from a watch, so a tick with nothing to do costs a pass over that map;
 * instances are read only when some node is late, down or draining.
 */
import type { Repository } from '../store/repository.js';
import type { Watcher } from '../store/backend.js';
import { instanceKind, nodeKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Node } from '../model/kinds/node.js';
import { FINISHED, release } from '../model/lifecycle.js';
import { isoNow } from '../model/runtime.js';
import { every, type Component } from '../server/runner.js';
import type { EventRecorder } from './events.js';

export interface NodeControllerOptions {
  heartbeatTimeoutMs: number;
  intervalMs?: number;
}

export class NodeController implements Component {
  readonly name = 'node-controller';
  private loop?: { stop(): void };
  private lastError = '';
  private readonly nodes = new Map<string, Node>();
  /** Down nodes with nothing left bound to them: nothing to do until the node changes. */
  private readonly settled = new Set<string>();
  private watcher?: Watcher;

  constructor(private readonly repo: Repository, private readonly events: EventRecorder, private readonly opts: NodeControllerOptions) {}

  async start(): Promise<void> {
    await this.load();
    this.loop = every(this.opts.intervalMs ?? 1000, () => this.tick(), (e) => {
      this.lastError = (e as Error).message;
    });
  }

  async stop(): Promise<void> {
    this.loop?.stop();
    this.watcher?.close();
  }

  private async load(): Promise<void> {
    this.watcher?.close();
    const { items, revision } = await this.repo.list<Node>(nodeKind);
    this.nodes.clear();
    for (const n of items) this.nodes.set(n.metadata.name, n);
    this.watcher = this.repo.watch<Node>(nodeKind, undefined, revision, (e) => {
      if (e.type === 'resync') void this.load().catch((err: Error) => (this.lastError = err.message));
      else {
        this.settled.delete(e.object.metadata.name);
        if (e.type === 'delete') this.nodes.delete(e.object.metadata.name);
        else this.nodes.set(e.object.metadata.name, e.object);
      }
    });
  }

  health(): string {
    return this.lastError;
  }

  /** One pass over all nodes. Exposed for tests. */
  async tick(): Promise<void> {
    if (!this.watcher) await this.load();
    const now = this.repo.clock.now();
    const work = [...this.nodes.values()].map((node) => {
      const beat = node.status?.lastHeartbeat ? Date.parse(node.status.lastHeartbeat) : undefined;
      return { node, late: beat !== undefined && now - beat > this.opts.heartbeatTimeoutMs, silentMs: beat === undefined ? 0 : now - beat };
    }).filter((w) => !this.settled.has(w.node.metadata.name) && (w.late || w.node.status?.phase === 'Down' || w.node.spec.draining));
    if (work.length === 0) {
      this.lastError = '';
      return;
    }
    const bound = await this.boundInstances();
    for (const { node, late, silentMs } of work) {
      const name = node.metadata.name;
      if (late && node.status?.phase !== 'Down') await this.markDown(node, silentMs);
      if (late || node.status?.phase === 'Down') {
        await this.releaseAll(name, bound.get(name) ?? []);
        if (node.status?.phase === 'Down') this.settled.add(name);
      }
      else if (node.spec.draining) await this.drain(name, bound.get(name) ?? []);
    }
    this.lastError = '';
  }

  private async boundInstances(): Promise<Map<string, Instance[]>> {
    const out = new Map<string, Instance[]>();
    const { items } = await this.repo.list<Instance>(instanceKind, { filter: (o) => (o as Instance).status?.node !== undefined && !FINISHED.has((o as Instance).status!.phase) });
    for (const i of items) {
      const n = i.status!.node!;
      out.set(n, [...(out.get(n) ?? []), i]);
    }
    return out;
  }

  private async markDown(node: Node, silentMs: number): Promise<void> {
    const at = isoNow(this.repo.clock);
    const message = `no heartbeat for ${Math.round(silentMs / 1000)} s (timeout ${Math.round(this.opts.heartbeatTimeoutMs / 1000)} s)`;
    await this.repo.update<Node>(nodeKind, node.metadata.name, undefined, (n) => ({
      ...n,
      status: {
        ...(n.status ?? { phase: 'Down' }),
        phase: 'Down',
        message,
        conditions: [{ type: 'Ready', status: 'False', reason: 'NodeLost', message, lastTransitionTime: at }],
      },
    }));
    await this.events.record({ kind: 'node', name: node.metadata.name }, 'Warning', 'NodeLost', `node ${node.metadata.name} is Down: ${message}; its instances are being moved`);
  }

  private async releaseAll(node: string, instances: Instance[]): Promise<void> {
    for (const i of instances) {
      const at = isoNow(this.repo.clock);
      const message = `node ${node} is Down`;
      const done = await this.repo.update<Instance>(instanceKind, i.metadata.name, i.metadata.project, (cur) => {
        if (cur.status?.node !== node || FINISHED.has(cur.status.phase)) return undefined;
        return { ...cur, status: release(cur, 'NodeLost', cur.spec.restartPolicy === 'always' ? `${message}; placing it again` : message, 'Lost', at) };
      });
      if (done && done.status?.node !== node) {
        await this.events.record({ kind: 'instance', name: i.metadata.name, project: i.metadata.project }, 'Warning', 'NodeLost', `${message}; rescheduling (restart policy always)`);
      } else if (done) {
        await this.events.record({ kind: 'instance', name: i.metadata.name, project: i.metadata.project }, 'Warning', 'Lost', `${message}; restart policy ${i.spec.restartPolicy} keeps it Lost`);
      }
    }
  }

  private async drain(node: string, instances: Instance[]): Promise<void> {
    for (const i of instances) {
      if (i.status?.phase === 'Stopping') continue;
      await this.repo.update<Instance>(instanceKind, i.metadata.name, i.metadata.project, (cur) => {
        if (cur.status?.node !== node || FINISHED.has(cur.status.phase) || cur.status.phase === 'Stopping') return undefined;
        return { ...cur, status: { ...cur.status, phase: 'Stopping', reason: 'Drained', message: `node ${node} is draining; stopping within ${cur.spec.gracePeriod} s` } };
      });
      await this.events.record({ kind: 'instance', name: i.metadata.name, project: i.metadata.project }, 'Normal', 'Draining', `node ${node} is draining; moving the instance`);
    }
  }
}
