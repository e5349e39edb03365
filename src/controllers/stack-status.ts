/**
 * Keeps each stack's status (the STATUS and APPLIED of `stratus stack ls`):
 *   phase    Applied  when every service it owns is Available (or it owns none),
 *            Failed   when one is Degraded (its message says why), else Applying;
 *   appliedAt when it was last applied: `stratus apply` stamps the stack with the annotation
 *            stratus.io/applied-at; a stack written otherwise counts from its creation.
 *
 *   stacks watch ─┐
 *                 ├─▶ dirty stacks ─▶ every flushMs: read its services, write the status if it changed
 *   services watch┘   (label stratus.io/stack)
 */
import type { Repository, ObjectEvent } from '../store/repository.js';
import type { Watcher } from '../store/backend.js';
import type { Component } from '../runtime/component.js';
import { serviceKind, stackKind } from '../model/kinds/index.js';
import { APPLIED_ANNOTATION, STACK_LABEL, type Stack } from '../model/kinds/stack.js';
import type { Service } from '../model/kinds/service.js';
import type { StoredObject } from '../model/kind.js';

type StackStatus = NonNullable<Stack['status']>;

/** The status a stack's services give it (pure). */
export function stackStatus(stack: Stack, services: Service[]): StackStatus {
  const appliedAt = stack.metadata.annotations?.[APPLIED_ANNOTATION] ?? stack.metadata.createdAt;
  const failed = services.find((s) => s.status?.phase === 'Degraded');
  if (failed) return { phase: 'Failed', message: `service ${failed.metadata.name}: ${failed.status?.message ?? 'degraded'}`, appliedAt };
  const pending = services.filter((s) => s.status?.phase !== 'Available').map((s) => s.metadata.name);
  if (pending.length > 0) return { phase: 'Applying', message: `rolling out: ${pending.join(', ')}`, appliedAt };
  return { phase: 'Applied', message: `${services.length} service${services.length === 1 ? '' : 's'} available`, appliedAt };
}

export class StackStatusController implements Component {
  readonly name = 'stack-status';
  private watchers: Watcher[] = [];
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly repo: Repository, private readonly opts: { flushMs?: number } = {}) {}

  async start(): Promise<void> {
    const revision = await this.repo.revision();
    for (const s of (await this.repo.list<Stack>(stackKind)).items) this.dirty.add(keyOf(s));
    const mark = (e: ObjectEvent<StoredObject>) => {
      if (e.type === 'resync') return void this.restart();
      const stack = e.object.kind === 'stack' ? e.object.metadata.name : e.object.metadata.labels?.[STACK_LABEL];
      if (stack) this.touch(`${e.object.metadata.project}/${stack}`);
    };
    this.watchers = [this.repo.watch(stackKind, undefined, revision, mark), this.repo.watch(serviceKind, undefined, revision, mark)];
    await this.flush();
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  private touch(key: string): void {
    this.dirty.add(key);
    if (this.timer || this.watchers.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.opts.flushMs ?? 500);
    this.timer.unref();
  }

  private flush(): Promise<void> {
    this.running = this.running.then(async () => {
      const keys = [...this.dirty];
      this.dirty.clear();
      for (const key of keys) await this.refresh(key).catch(() => this.dirty.add(key));
    });
    return this.running;
  }

  private async refresh(key: string): Promise<void> {
    const [project, name] = key.split('/') as [string, string];
    const { items } = await this.repo.list<Service>(serviceKind, { project, selector: [{ key: STACK_LABEL, op: 'eq', values: [name] }] });
    await this.repo.update<Stack>(stackKind, name, project, (cur) => {
      const status = stackStatus(cur, items);
      return JSON.stringify(status) === JSON.stringify(cur.status) ? undefined : { ...cur, status };
    });
  }
}

function keyOf(o: StoredObject): string {
  return `${o.metadata.project}/${o.metadata.name}`;
}
