/**
 * Fan-out of committed changes to watchers, shared by the single-process backends.
 *
 * A watcher first replays history (read synchronously from the backend's log, so no commit can
 * slip in between) and then receives live events. Delivery is synchronous, in commit order. A
 * watch from below the compacted revision, or from above the current one, gets one `resync`.
 */
import type { KeyValue, LeaseId, WatchEvent, Watcher } from './backend.js';

export interface Change {
  type: 'put' | 'delete';
  kv: KeyValue;
  prevModRevision?: number;
  /** The value before a put, when known. */
  prevValue?: string;
  /** The lease a put binds its key to (the backends' bookkeeping; watchers do not see it). */
  lease?: LeaseId;
}

interface Entry {
  prefix: string;
  onEvent: (e: WatchEvent) => void;
  closed: boolean;
}

export class WatchHub {
  private readonly entries = new Set<Entry>();

  /**
   * Registers a watcher. `history` must return, synchronously, the changes after `fromRevision`
   * or throw when they were compacted; both happen before any later commit is published.
   */
  add(
    prefix: string,
    fromRevision: number,
    onEvent: (e: WatchEvent) => void,
    history: (prefix: string, fromRevision: number) => Iterable<Change>,
    compactedRevision: number,
    currentRevision: number,
  ): Watcher {
    const entry: Entry = { prefix, onEvent, closed: false };
    const close = () => {
      entry.closed = true;
      this.entries.delete(entry);
    };
    if (fromRevision < compactedRevision) {
      onEvent({ type: 'resync', revision: currentRevision, reason: `revision ${fromRevision} was compacted (oldest available: ${compactedRevision})` });
      return { close: () => undefined };
    }
    if (fromRevision > currentRevision) {
      onEvent({ type: 'resync', revision: currentRevision, reason: `the store's revision ${currentRevision} is lower than the watch's ${fromRevision} (was it restored from a backup?)` });
      return { close: () => undefined };
    }
    if (fromRevision < currentRevision) {
      for (const change of history(prefix, fromRevision)) {
        if (entry.closed) break;
        onEvent(toEvent(change));
      }
    }
    if (!entry.closed) this.entries.add(entry);
    return { close };
  }

  /** Publishes committed changes, in order, to every matching watcher. */
  publish(changes: readonly Change[]): void {
    if (this.entries.size === 0) return;
    // A snapshot: a watcher added while we deliver already read these changes as history.
    const targets = [...this.entries];
    for (const change of changes) {
      const event = toEvent(change);
      for (const entry of targets) {
        if (!entry.closed && change.kv.key.startsWith(entry.prefix)) entry.onEvent(event);
      }
    }
  }

  /** Ends every watcher with a resync signal (e.g. when the store closes). */
  closeAll(reason: string, revision: number): void {
    for (const entry of [...this.entries]) {
      entry.closed = true;
      entry.onEvent({ type: 'resync', revision, reason });
    }
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

function toEvent(change: Change): WatchEvent {
  if (change.type === 'delete') return { type: 'delete', kv: change.kv, prevModRevision: change.prevModRevision ?? 0 };
  if (change.prevModRevision === undefined) return { type: 'put', kv: change.kv };
  return change.prevValue === undefined
    ? { type: 'put', kv: change.kv, prevModRevision: change.prevModRevision }
    : { type: 'put', kv: change.kv, prevModRevision: change.prevModRevision, prevValue: change.prevValue };
}
