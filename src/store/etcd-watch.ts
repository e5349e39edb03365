/**
 * One store watcher on etcd: its own gRPC watch stream, resumed from the revision after the last
 * one it delivered whenever the stream breaks (a member restarts, the connection drops), so that
 * events come in revision order, none skipped and none twice.
 *
 *   create(start = fromRevision + 1, prev_kv, fragment, progress_notify)
 *     created  ─▶ the member's revision below fromRevision, and the quorum's too? ─▶ resync (a restore)
 *     events   ─▶ fragments joined; revisions already delivered dropped; delivered; next = last + 1
 *     progress ─▶ next = header revision + 1 (nothing missed up to it: fewer replays, no needless resync)
 *     canceled ─▶ compact_revision? ─▶ resync (compacted); else resync (etcd's reason)
 *     error/end ─▶ reconnect after a backoff (100 ms doubling to 2 s), from `next`
 *
 * etcd3's own Watcher is not used: after a reconnect it resumes from the last header revision it
 * saw, which skips the rest of a history replay that was cut (a creation response's header is the
 * store's current revision, not the last event sent), and it does not report the compacted revision.
 */
import type { IEvent, IKeyValue, IWatchResponse, WatchClient } from 'etcd3';
import type { KeyValue, WatchEvent, Watcher } from './backend.js';

interface Stream {
  write(req: unknown): void;
  end(): void;
  cancel(): void;
  on(event: string, fn: (arg: never) => void): Stream;
}

export interface EtcdWatchTarget {
  client: WatchClient;
  /** The etcd range watched, and how many bytes of each key are the store's prefix. */
  key: Buffer;
  rangeEnd: Buffer;
  rootBytes: number;
  /** The store's revision, read through a quorum. */
  revisionNow(): Promise<number>;
  /** Told the compacted revision etcd reports. */
  onCompacted(revision: number): void;
  /** Told once the watcher is closed (by its user, a resync or the store). */
  onClosed(watcher: EtcdWatch): void;
}

export class EtcdWatch implements Watcher {
  private next: number;
  private stream: Stream | undefined;
  private fragments: IEvent[] = [];
  private backoffMs = 100;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Writers waiting until this watcher has delivered their revision (read-your-writes). */
  private waiters: { revision: number; done: () => void }[] = [];

  constructor(private readonly target: EtcdWatchTarget, fromRevision: number, private readonly onEvent: (event: WatchEvent) => void) {
    this.next = fromRevision + 1;
    void this.connect();
  }

  /** Whether `key` (an etcd key, prefix included) is in the range this watcher watches. */
  covers(key: Buffer): boolean {
    const end = this.target.rangeEnd;
    return Buffer.compare(key, this.target.key) >= 0 && (end.length === 1 && end[0] === 0 ? true : Buffer.compare(key, end) < 0);
  }

  /**
   * Resolves once this watcher has delivered every event up to `revision` (or is closed, or after
   * `ms`): a write returns only when the store's watchers, and the informers fed by them, have it,
   * as the single-process stores deliver within the commit (runtime/informer.ts relies on it).
   */
  waitFor(revision: number, ms: number): Promise<void> {
    if (this.closed || this.next > revision) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => done(), ms);
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      };
      const waiter = { revision, done };
      this.waiters.push(waiter);
    });
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    for (const w of this.waiters.filter((x) => this.closed || this.next > x.revision)) w.done();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.wake();
    clearTimeout(this.timer);
    this.drop();
    this.target.onClosed(this);
  }

  /** Ends with one resync event (compaction, a store behind the watch, the store closing). */
  resync(revision: number, reason: string): void {
    if (this.closed) return;
    this.close();
    // etcd's cancel responses carry no revision: the last one known then
    this.onEvent({ type: 'resync', revision: Math.max(revision, this.next - 1), reason });
  }

  private async connect(): Promise<void> {
    this.timer = undefined;
    if (this.closed) return;
    let stream: Stream;
    try {
      stream = (await this.target.client.watch()) as unknown as Stream;
    } catch {
      this.reconnect();
      return;
    }
    if (this.closed) {
      endStream(stream);
      return;
    }
    this.stream = stream;
    stream
      .on('data', (res: IWatchResponse) => this.stream === stream && this.onResponse(res))
      .on('error', () => this.stream === stream && this.broken())
      .on('end', () => this.stream === stream && this.broken());
    stream.write({
      create_request: { key: this.target.key, range_end: this.target.rangeEnd, start_revision: this.next, prev_kv: true, fragment: true, progress_notify: true },
    });
  }

  private onResponse(res: IWatchResponse): void {
    const revision = Number(res.header.revision);
    if (res.created) {
      if (res.canceled) return this.resync(revision, `etcd refused the watch: ${res.cancel_reason || 'no reason given'}`);
      if (revision < this.next - 1) this.checkBehind();
      this.backoffMs = 100;
      return;
    }
    if (res.canceled) {
      const compacted = Number(res.compact_revision);
      if (compacted > 0) {
        this.target.onCompacted(compacted);
        return this.resync(revision, `revision ${this.next - 1} was compacted (oldest available: ${compacted})`);
      }
      return this.resync(revision, `etcd canceled the watch: ${res.cancel_reason || 'no reason given'}`);
    }
    this.fragments.push(...res.events);
    if (res.fragment) return;
    const events = this.fragments;
    this.fragments = [];
    if (events.length === 0) {
      this.next = Math.max(this.next, revision + 1);
      return this.wake();
    }
    // a response holds whole revisions: drop those already delivered (a replay after a reconnect)
    const from = this.next;
    for (const ev of events) {
      const rev = Number(ev.kv.mod_revision);
      if (rev < from) continue;
      if (this.closed) return;
      this.onEvent(this.toEvent(ev));
      this.next = Math.max(this.next, rev + 1);
    }
    this.wake();
  }

  /**
   * The member watched is behind the revision asked: a member still catching up (its events will
   * come), or the whole store went back (a restore: resync). A quorum read tells which.
   */
  private checkBehind(): void {
    const asked = this.next - 1;
    this.target.revisionNow().then((now) => {
      if (now < asked) this.resync(now, `the store's revision ${now} is lower than the watch's ${asked} (was it restored from a backup?)`);
    }, () => undefined);
  }

  private toEvent(ev: IEvent): WatchEvent {
    const kv = this.keyValue(ev.kv);
    const prev = ev.prev_kv ? this.keyValue(ev.prev_kv) : undefined;
    if (ev.type === 'Delete') {
      return prev
        ? { type: 'delete', kv: { ...prev, modRevision: kv.modRevision }, prevModRevision: prev.modRevision }
        : { type: 'delete', kv: { key: kv.key, value: '', createRevision: 0, modRevision: kv.modRevision, version: 0 }, prevModRevision: 0 };
    }
    return prev ? { type: 'put', kv, prevModRevision: prev.modRevision, prevValue: prev.value } : { type: 'put', kv };
  }

  private keyValue(kv: IKeyValue): KeyValue {
    return toKeyValue(kv, this.target.rootBytes);
  }

  private broken(): void {
    this.drop();
    this.reconnect();
  }

  private reconnect(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => void this.connect(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, 2000);
  }

  private drop(): void {
    this.fragments = [];
    const stream = this.stream;
    this.stream = undefined;
    if (stream) endStream(stream);
  }
}

/**
 * Ends a stream without the client counting it as a failure of its member: etcd3 marks a member
 * failed on an error while the stream is writable, and cancelling raises one, so end it first.
 */
export function endStream(stream: Stream): void {
  stream.on('error', () => undefined);
  try {
    stream.end();
    stream.cancel();
  } catch {
    // already closed
  }
}

/** An etcd key-value as the store's, its key without the first `rootBytes` bytes. */
export function toKeyValue(kv: IKeyValue, rootBytes: number): KeyValue {
  return {
    key: kv.key.subarray(rootBytes).toString('utf8'),
    value: kv.value.toString('utf8'),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    version: Number(kv.version),
  };
}
