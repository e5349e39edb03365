/**
 * Recording events: what happened to an object and why. Repeats of the same (object, reason,
 * message) fold into one event with a count, so a pending instance retried every second does
 * not write a new event every second. Events of cluster objects (nodes) live in project "system".
 * Events are labelled with their object so `describe` can select them.
 */
import { createHash } from 'node:crypto';
import type { Repository } from '../store/repository.js';
import { eventKind } from '../model/kinds/index.js';
import { OBJECT_KIND_LABEL, OBJECT_NAME_LABEL, SYSTEM_PROJECT, type EventSpec, type StratusEvent } from '../model/kinds/event.js';
import { isoNow } from '../model/runtime.js';
import { StratusError } from '../model/errors.js';
import { BestEffort } from './best-effort.js';

export interface EventTarget {
  kind: string;
  name: string;
  project?: string;
}

/** The event writes of all recorders of one store: a few at a time (runtime/best-effort.ts). */
const writers = new WeakMap<Repository, BestEffort>();

export class EventRecorder {
  private readonly writes: BestEffort;

  constructor(private readonly repo: Repository, private readonly source: string) {
    this.writes = writers.get(repo) ?? new BestEffort(8, 10_000);
    writers.set(repo, this.writes);
  }

  /** Records (or folds into) an event, a few writes at a time, dropped when too many wait. Never throws: events are best effort. */
  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    return this.writes.offer(() => this.write(target, type, reason, message));
  }

  /** A new event is one create; a repeat (the create finds it) folds into it: count + 1. */
  private async write(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const project = target.project ?? SYSTEM_PROJECT;
    const name = eventName(target, reason, message);
    const now = isoNow(this.repo.clock);
    try {
      try {
        const spec: EventSpec = { type, reason, message: message.slice(0, 4096), object: { kind: target.kind, name: target.name }, source: this.source, count: 1, firstTime: now, lastTime: now };
        await this.repo.create(eventKind, {
          metadata: { name, project, labels: { [OBJECT_KIND_LABEL]: target.kind, [OBJECT_NAME_LABEL]: target.name, 'stratus.io/reason': reason } },
          spec,
        });
      } catch (e) {
        if (!(e instanceof StratusError && e.code === 'STRATUS_ERR_ALREADY_EXISTS')) throw e;
        await this.repo.update<StratusEvent>(eventKind, name, project, (ev) => ({
          ...ev,
          spec: { ...ev.spec, count: (ev.spec.count ?? 1) + 1, lastTime: now },
        }));
      }
    } catch (e) {
      if (e instanceof StratusError && (e.code === 'STRATUS_ERR_ALREADY_EXISTS' || e.code === 'STRATUS_ERR_NOT_FOUND' || e.code === 'STRATUS_ERR_CONFLICT')) return;
      // A store error while recording an event must not break the caller's work.
    }
  }
}

/** Same object, reason and message → same name (so repeats fold); a DNS label. */
export function eventName(t: EventTarget, reason: string, message: string): string {
  const digest = createHash('sha256').update(`${t.kind}\0${t.project ?? ''}\0${t.name}\0${reason}\0${message}`).digest('hex').slice(0, 10);
  const stem = `${t.name}`.slice(0, 50).replace(/-+$/, '');
  return `${stem}-${digest}`;
}
