/** The event sweeper: events live for a limited time (`stratus server --event-ttl`). */
import type { Repository } from '../store/repository.js';
import { eventKind } from '../model/kinds/index.js';
import type { StratusEvent } from '../model/kinds/event.js';
import { every, type Component } from '../runtime/component.js';

/** Deletes events whose last occurrence is older than `ttlMs`, every `intervalMs`. */
export function eventSweeper(repo: Repository, ttlMs: number, intervalMs = 60_000): Component {
  let loop: { stop(): void } | undefined;
  return {
    name: 'event-sweeper',
    start: async () => {
      loop = every(intervalMs, async () => {
        const cutoff = repo.clock.now() - ttlMs;
        const { items } = await repo.list<StratusEvent>(eventKind, { filter: (e) => Date.parse((e as StratusEvent).spec.lastTime ?? e.metadata.createdAt) < cutoff });
        for (const e of items) {
          await repo.delete(eventKind, e.metadata.name, e.metadata.project).catch(() => undefined);
        }
      }, () => undefined);
    },
    stop: async () => loop?.stop(),
  };
}
