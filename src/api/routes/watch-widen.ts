/**
 * When what a watcher may read grows without the objects changing (a node starts hosting a
 * project), the stream sends the objects that became readable, then goes on:
 *
 *   widen(P) ─▶ hold live events ─▶ list P ─▶ put each (no id) ─▶ release the held events
 *                                                                 (those the list already covered dropped)
 *
 * The added puts carry no id and bookmarks wait, so a client that reconnects before it has them
 * all resumes from before the widening, and the stream it opens then tells it to list again
 * (`WidenSource.missedSince`).
 */
import type { StoredObject } from '../../model/kind.js';
import type { ObjectEvent } from '../../store/repository.js';

type Live = Exclude<ObjectEvent<StoredObject>, { type: 'resync' }>;

export class Widening {
  private readonly queue: string[] = [];
  private held: Live[] | undefined;

  constructor(private readonly io: {
    list: (project: string) => Promise<StoredObject[]>;
    /** Sends one object that became readable. */
    put: (obj: StoredObject) => void;
    /** Hands on a live event, as the stream would have without a widening. */
    deliver: (e: Live) => void;
    fail: (e: Error) => void;
  }) {}

  /** True while a widening runs: bookmarks must wait. */
  get busy(): boolean {
    return this.held !== undefined;
  }

  /** Holds `e` while a widening runs; false when the stream delivers it itself. */
  hold(e: Live): boolean {
    if (!this.held) return false;
    this.held.push(e);
    return true;
  }

  widen(project: string): void {
    this.queue.push(project);
    if (this.held) return;
    this.held = [];
    void this.run().catch((e: Error) => this.io.fail(e));
  }

  private async run(): Promise<void> {
    const listed = new Map<string, number>();
    while (this.queue.length > 0) {
      for (const obj of await this.io.list(this.queue.shift()!)) {
        listed.set(keyOf(obj), obj.metadata.revision);
        this.io.put(obj);
      }
    }
    // Synchronously: nothing new arrives between the held events and the live ones.
    const held = this.held ?? [];
    this.held = undefined;
    for (const e of held) {
      if ((listed.get(keyOf(e.object)) ?? -1) >= e.revision) continue; // the list sent this or newer
      this.io.deliver(e);
    }
  }
}

const keyOf = (o: StoredObject) => `${o.metadata.project ?? ''}/${o.metadata.name}`;
