/**
 * Keeps each stack's status (the STATUS and APPLIED of `stratus stack ls`):
 *   phase    Applied  when every service it owns is Available (or it owns none),
 *            Failed   when one is Degraded (its message says why), else Applying;
 *   appliedAt when it was last applied: `stratus apply` stamps the stack with the annotation
 *            stratus.io/applied-at; a stack written otherwise counts from its creation.
 *
 *   stacks informer ─┐
 *                    ├─▶ dirty stacks ─▶ every flushMs: its services (the informer's index by
 *   services informer┘   label stratus.io/stack), write the status if it changed
 */
import type { Repository } from '../store/repository.js';
import type { Component } from '../runtime/component.js';
import type { Subscription } from '../runtime/informer.js';
import { byLabel, Informers } from '../runtime/informers.js';
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

const byStack = byLabel(STACK_LABEL);

export interface StackStatusOptions {
  flushMs?: number;
  /** The server's shared informers (default: this controller's own). */
  informers?: Informers;
}

export class StackStatusController implements Component {
  readonly name = 'stack-status';
  private subs: Subscription[] = [];
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly informers: Informers;

  constructor(private readonly repo: Repository, private readonly opts: StackStatusOptions = {}) {
    this.informers = opts.informers ?? new Informers(repo);
  }

  /** Every stack is refreshed once at start (the informers replay what they hold), then as it or its services change. */
  async start(): Promise<void> {
    const mark = (o: StoredObject) => {
      const stack = o.kind === 'stack' ? o.metadata.name : o.metadata.labels?.[STACK_LABEL];
      if (stack) this.touch(`${o.metadata.project}/${stack}`);
    };
    // a service that moved from one stack to another changes both
    const handler = { add: mark, update: (old: StoredObject, o: StoredObject) => (mark(old), mark(o)), delete: mark };
    const services = this.informers.of<Service>(serviceKind);
    services.addIndex(byStack);
    this.subs = [await this.informers.of<Stack>(stackKind).use(handler), await services.use(handler)];
    await this.flush();
  }

  async stop(): Promise<void> {
    for (const s of this.subs) s.close();
    this.subs = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private touch(key: string): void {
    this.dirty.add(key);
    if (this.timer || this.subs.length === 0) return;
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
    const items = this.informers.of<Service>(serviceKind).byIndex(byStack, key) as Service[];
    await this.repo.update<Stack>(stackKind, name, project, (cur) => {
      const status = stackStatus(cur, items);
      return JSON.stringify(status) === JSON.stringify(cur.status) ? undefined : { ...cur, status };
    });
  }
}
