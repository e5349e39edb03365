/**
 * Stacks own their objects through the label stratus.io/stack=<name>. When a stack is deleted,
 * this controller deletes everything that carries its label (and, every minute, anything left
 * carrying the label of a stack that no longer exists).
 */
import type { Repository } from '../store/repository.js';
import { Informers } from '../runtime/informers.js';
import type { Subscription } from '../runtime/informer.js';
import { ALL_KINDS, stackKind } from '../model/kinds/index.js';
import { STACK_LABEL, type Stack } from '../model/kinds/stack.js';
import { StratusError } from '../model/errors.js';
import { every, type Component } from '../runtime/component.js';
import type { EventRecorder } from '../runtime/events.js';
import { plural } from '../model/format.js';

export class StackController implements Component {
  readonly name = 'stack-controller';
  private sub: Subscription | undefined;
  private loop: { stop(): void } | undefined;
  private lastError = '';
  private readonly informers: Informers;

  /** `informers`: the server's shared informers (default: this controller's own). */
  constructor(private readonly repo: Repository, private readonly events: EventRecorder, private readonly sweepMs = 60_000, informers?: Informers) {
    this.informers = informers ?? new Informers(repo);
  }

  /** Stacks deleted from now on remove what they own; the sweep catches those deleted before. */
  async start(): Promise<void> {
    this.sub = await this.informers.of<Stack>(stackKind).use({
      delete: (s) => void this.removeOwned(s.metadata.project!, s.metadata.name).catch((err: Error) => (this.lastError = err.message)),
    }, { replay: false });
    this.loop = every(this.sweepMs, () => this.sweep(), (e) => (this.lastError = (e as Error).message));
  }

  async stop(): Promise<void> {
    this.sub?.close();
    this.loop?.stop();
  }

  health(): string {
    return this.lastError;
  }

  /** Deletes every object of `project` labelled as owned by stack `name`. */
  async removeOwned(project: string, name: string): Promise<number> {
    let n = 0;
    for (const kind of ALL_KINDS) {
      if (kind.scope !== 'project' || kind === stackKind) continue;
      const { items } = await this.repo.list(kind, { project, selector: [{ key: STACK_LABEL, op: 'eq', values: [name] }] });
      for (const o of items) {
        try {
          await this.repo.delete(kind, o.metadata.name, project);
          n++;
        } catch (e) {
          if (!(e instanceof StratusError && e.code === 'STRATUS_ERR_NOT_FOUND')) throw e;
        }
      }
    }
    if (n > 0) void this.events.record({ kind: 'stack', name, project }, 'Normal', 'Removed', `stack ${name} deleted: removed ${plural(n, 'object')} it owned`);
    return n;
  }

  /** Objects whose stack is gone. */
  private async sweep(): Promise<void> {
    const stacks = new Set((await this.repo.list(stackKind)).items.map((s) => `${s.metadata.project}/${s.metadata.name}`));
    const orphans = new Set<string>();
    for (const kind of ALL_KINDS) {
      if (kind.scope !== 'project' || kind === stackKind) continue;
      const { items } = await this.repo.list(kind, { selector: [{ key: STACK_LABEL, op: 'exists', values: [] }] });
      for (const o of items) {
        const key = `${o.metadata.project}/${o.metadata.labels![STACK_LABEL]}`;
        if (!stacks.has(key)) orphans.add(key);
      }
    }
    for (const key of orphans) {
      const [project, name] = key.split('/') as [string, string];
      await this.removeOwned(project, name);
    }
  }
}
