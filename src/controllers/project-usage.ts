/**
 * Keeps each project's `status.usage` current: what its active objects take (instances that are not
 * finished: CPU, memory, disk, GPUs, instances; volumes: count and storage), counted as the quota check counts it (policy/quota.ts), so
 * `describe project` can show `used / limit` as `openstack quota show --usage` does.
 *
 *   instance informer ─▶ QuotaTracker (per-project sums) ─▶ dirty projects ─▶ every flushMs: write
 *                                                                          status.usage if changed
 *
 * Writes are batched (a rollout of 100 replicas is a few writes, not 200) and skipped when the
 * stored usage is already right; at start every project is brought up to date.
 */
import type { Repository } from '../store/repository.js';
import type { Component } from '../runtime/component.js';
import { projectKind } from '../model/kinds/index.js';
import { QUOTAS, type Project } from '../model/kinds/project.js';
import { QuotaTracker, type Usage } from '../policy/quota.js';
import type { Informers } from '../runtime/informers.js';

export class ProjectUsageController implements Component {
  readonly name = 'project-usage';
  private readonly tracker: QuotaTracker;
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private started = false;

  /** `informers`: the server's shared informers (default: the tracker's own). */
  constructor(private readonly repo: Repository, private readonly opts: { flushMs?: number; informers?: Informers } = {}) {
    this.tracker = new QuotaTracker(repo, (project) => this.touch(project), opts.informers);
  }

  async start(): Promise<void> {
    await this.tracker.start();
    this.started = true;
    for (const p of (await this.repo.list<Project>(projectKind)).items) this.dirty.add(p.metadata.name);
    await this.flush();
  }

  async stop(): Promise<void> {
    this.started = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.tracker.stop();
    await this.flushing;
  }

  private touch(project: string): void {
    this.dirty.add(project);
    if (!this.started || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.opts.flushMs ?? 500);
    this.timer.unref();
  }

  /** Writes the usage of every dirty project whose stored usage differs. */
  private async flush(): Promise<void> {
    await this.flushing;
    const projects = [...this.dirty];
    this.dirty.clear();
    this.flushing = (async () => {
      for (const name of projects) {
        const usage = this.tracker.counted(name);
        await this.repo.update<Project>(projectKind, name, undefined, (cur) => (sameUsage(cur.status?.usage, usage) ? undefined : { ...cur, status: { ...cur.status, usage: { ...usage } } }))
          .catch(() => this.dirty.add(name)); // tried again with the next change
      }
    })();
    await this.flushing;
  }
}

function sameUsage(a: Partial<Usage> | undefined, b: Usage): boolean {
  return a !== undefined && QUOTAS.every(({ name }) => (a[name] ?? 0) === (b[name] ?? 0));
}
