/**
 * Turns what agents report (instance status) into events people read in `describe`:
 * Started, BackOff, OOMKilled, Failed, Completed, Unhealthy (what a failing health check found).
 * Agents only write status; this controller compares each write with the one before it (the
 * shared instance informer's update carries both).
 */
import type { Repository } from '../store/repository.js';
import { Informers } from '../runtime/informers.js';
import type { Subscription } from '../runtime/informer.js';
import { instanceKind } from '../model/kinds/index.js';
import type { Instance, InstanceStatus } from '../model/kinds/instance.js';
import type { Component } from '../runtime/component.js';
import type { EventRecorder } from '../runtime/events.js';
import { conditionOf } from '../model/conditions.js';

type Recorded = { type: 'Normal' | 'Warning'; reason: string; message: string };

/** The events one status change deserves (pure). */
export function eventsFor(prev: InstanceStatus | undefined, next: InstanceStatus | undefined): Recorded[] {
  if (!next) return [];
  const out: Recorded[] = [];
  const changed = prev?.phase !== next.phase;
  const node = next.node ? ` on node ${next.node}` : '';
  if (next.phase === 'Running' && (changed || next.pid !== prev?.pid)) out.push({ type: 'Normal', reason: 'Started', message: `started${node}${next.pid ? ` as pid ${next.pid}` : ''}` });
  if ((next.restarts ?? 0) > (prev?.restarts ?? 0)) {
    out.push({ type: 'Warning', reason: next.reason === 'OOMKilled' ? 'OOMKilled' : 'BackOff', message: next.message ?? 'restarting' });
  } else if (changed && next.phase === 'Failed') {
    out.push({ type: 'Warning', reason: next.reason === 'OOMKilled' ? 'OOMKilled' : 'Failed', message: next.message ?? 'failed' });
  }
  const unhealthy = conditionOf(next.conditions, 'Ready');
  if (unhealthy?.reason === 'HealthCheckFailed' && unhealthy.message !== conditionOf(prev?.conditions, 'Ready')?.message) {
    out.push({ type: 'Warning', reason: 'Unhealthy', message: unhealthy.message ?? 'health check failed' });
  }
  if (changed && next.phase === 'Succeeded') out.push({ type: 'Normal', reason: 'Completed', message: next.message ?? 'exited with code 0' });
  if (changed && prev?.phase === 'Stopping' && (next.phase === 'Pending' || next.phase === 'Stopped' || next.phase === 'Preempted')) {
    out.push({ type: 'Normal', reason: 'Stopped', message: `${next.message ?? 'stopped'}${next.phase === 'Pending' ? '; waiting to be placed again' : ''}` });
  }
  return out;
}

export class InstanceEvents implements Component {
  readonly name = 'instance-events';
  private sub?: Subscription;
  private readonly informers: Informers;

  /** `informers`: the server's shared informers (default: this controller's own). */
  constructor(repo: Repository, private readonly events: EventRecorder, informers?: Informers) {
    this.informers = informers ?? new Informers(repo);
  }

  /** Changes from now on (what the informer held before is not replayed). */
  async start(): Promise<void> {
    this.sub = await this.informers.of<Instance>(instanceKind).use({
      add: (i) => this.changed(undefined, i),
      update: (old, i) => this.changed(old, i),
    }, { replay: false });
  }

  async stop(): Promise<void> {
    this.sub?.close();
  }

  private changed(prev: Instance | undefined, i: Instance): void {
    for (const ev of eventsFor(prev?.status, i.status)) {
      void this.events.record({ kind: 'instance', name: i.metadata.name, project: i.metadata.project }, ev.type, ev.reason, ev.message);
    }
  }
}
