import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MemoryBackend } from '../store/memory.js';
import { SqliteBackend } from '../store/sqlite.js';
import { openBackend, type Backend } from '../store/index.js';
import { Repository } from '../store/repository.js';
import { instanceKind, projectKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import { sequentialIds } from '../model/runtime.js';
import { Informer, type Source, type SourceEvent } from './informer.js';
import { byLabel, byProject, objectKey, objectSource, Informers } from './informers.js';

/**
 * The store source with a hand on the wire: the watch can be cut (changes are not delivered) and
 * reconnected (the informer is told `closed`), and writes can land while a list is being read.
 */
class FlakySource implements Source<Instance> {
  private onEvent: ((e: SourceEvent<Instance>) => void) | undefined;
  private inner: { close(): void } | undefined;
  /** Run between reading the revision and reading the items of the next list. */
  duringList: (() => Promise<void>) | undefined;

  constructor(private readonly repo: Repository) {}

  async list(): Promise<{ items: Instance[]; revision: number }> {
    const revision = await this.repo.revision();
    const during = this.duringList;
    this.duringList = undefined;
    await during?.();
    return { items: (await this.repo.list<Instance>(instanceKind)).items, revision };
  }

  watch(from: number, onEvent: (e: SourceEvent<Instance>) => void): { close(): void } {
    this.onEvent = onEvent;
    this.inner = objectSource<Instance>(this.repo, instanceKind).watch(from, onEvent);
    return { close: () => this.cut() };
  }

  /** The connection drops: nothing more arrives until reconnect(). */
  cut(): void {
    this.inner?.close();
    this.inner = undefined;
  }

  /** The client notices: its watch ended, to be made again from the last revision seen. */
  reconnect(): void {
    const onEvent = this.onEvent;
    this.cut();
    onEvent?.({ type: 'closed', reason: 'connection reset' });
  }
}

type Op =
  | { op: 'create' | 'update' | 'delete'; name: number; project: number; app: number }
  | { op: 'other' } // a write outside the collection
  | { op: 'compact' }
  | { op: 'cut' }
  | { op: 'reconnect' }
  | { op: 'writeDuringList'; name: number; project: number; app: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constantFrom('create' as const, 'update' as const, 'delete' as const), name: fc.nat(4), project: fc.nat(1), app: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'other' as const }) },
  { weight: 2, arbitrary: fc.constant({ op: 'compact' as const }) },
  { weight: 2, arbitrary: fc.constant({ op: 'cut' as const }) },
  { weight: 2, arbitrary: fc.constant({ op: 'reconnect' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('writeDuringList' as const), name: fc.nat(4), project: fc.nat(1), app: fc.nat(2) }) },
);

const SPEC = { driver: 'process', command: ['x'], resources: { cpu: 1, memory: 1, disk: 0 }, priority: 0, restartPolicy: 'never', gracePeriod: 1 };

/** Applies a write to the store; returns whether it wrote an instance. */
async function write(repo: Repository, o: { op: 'create' | 'update' | 'delete'; name: number; project: number; app: number }): Promise<boolean> {
  const name = `i${o.name}`;
  const project = `p${o.project}`;
  const found = await repo.find<Instance>(instanceKind, name, project);
  const labels = { app: `a${o.app}` };
  if (o.op === 'create' || !found) {
    if (found) return false;
    await repo.create(instanceKind, { metadata: { name, project, labels }, spec: SPEC });
  } else if (o.op === 'update') {
    await repo.replace(instanceKind, found, { metadata: { name, project, labels: { ...labels, n: String(found.metadata.revision) } }, spec: SPEC });
  } else {
    await repo.delete(instanceKind, name, project);
  }
  return true;
}

/** The store's instances, by cache key, as revision + labels. */
async function storeView(repo: Repository): Promise<Map<string, string>> {
  const { items } = await repo.list<Instance>(instanceKind);
  return new Map(items.map((i) => [objectKey(i), `${i.metadata.revision} ${JSON.stringify(i.metadata.labels)}`]));
}

const view = (m: ReadonlyMap<string, Instance>) => new Map([...m].map(([k, i]) => [k, `${i.metadata.revision} ${JSON.stringify(i.metadata.labels)}`]));

/** The stores the property runs on, with how many runs each gets (a sqlite store is a file). */
const stores: [string, () => Promise<Backend>, number][] = [
  ['memory', async () => new MemoryBackend(), 200],
  ['sqlite', async () => openBackend(`sqlite://${join(mkdtempSync(join(tmpdir(), 'stratus-informer-')), 'db.sqlite')}?sync=normal`), 25],
];

describe('Informer', () => {
  it.each(stores)('keeps its cache equal to the %s store, and tells handlers each change once, through compaction, cut watches and lists that are not snapshots', async (_name, open, numRuns) => {
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 80, size: 'max' }), async (ops) => {
      const backend = await open();
      const repo = new Repository(backend, undefined, sequentialIds());
      await repo.create(instanceKind, { metadata: { name: 'pre', project: 'p0' }, spec: SPEC });
      const source = new FlakySource(repo);
      const informer = new Informer<Instance>('instances', source, { keyOf: objectKey, revisionOf: (i) => i.metadata.revision, retryMs: 1 });
      informer.addIndex(byProject);
      const app = byLabel('app');
      informer.addIndex(app);
      // What the handler was told, applied to a map of its own; each change must make sense.
      const told = new Map<string, Instance>();
      const problems: string[] = [];
      let events = 0;
      let resyncs = 0;
      const sub = await informer.use({
        add: (i) => {
          events++;
          if (told.has(objectKey(i))) problems.push(`add of ${objectKey(i)}, which it had`);
          told.set(objectKey(i), i);
        },
        update: (old, i) => {
          events++;
          if (told.get(objectKey(i)) !== old) problems.push(`update of ${objectKey(i)} from an object it was not told`);
          if (i.metadata.revision <= old.metadata.revision) problems.push(`update of ${objectKey(i)} to revision ${i.metadata.revision} from ${old.metadata.revision}`);
          told.set(objectKey(i), i);
        },
        delete: (i) => {
          events++;
          if (!told.delete(objectKey(i))) problems.push(`delete of ${objectKey(i)}, which it did not have`);
        },
        resync: () => void resyncs++,
      });
      let cut = false;
      for (const o of ops) {
        const before = { events, resyncs };
        let writes = 0;
        if (o.op === 'create' || o.op === 'update' || o.op === 'delete') writes += (await write(repo, o)) ? 1 : 0;
        else if (o.op === 'other') await repo.create(projectKind, { metadata: { name: `x${await repo.revision()}` }, spec: {} });
        else if (o.op === 'compact') await repo.backend.compact(await repo.revision());
        else if (o.op === 'cut') {
          source.cut();
          cut = true;
        } else if (o.op === 'reconnect' || o.op === 'writeDuringList') {
          if (o.op === 'writeDuringList') source.duringList = async () => void (await write(repo, { ...o, op: 'update' }));
          source.reconnect();
          cut = false;
          // compacted while cut: the watch resyncs and lists again (with the write above in between)
        }
        await informer.settled();
        if (cut) continue;
        expect(problems).toEqual([]);
        // the cache is the store's collection, at the informer's revision (nothing later touched it)
        expect(view(informer.items)).toEqual(await storeView(repo));
        expect(view(told)).toEqual(view(informer.items));
        expect(informer.revision).toBeLessThanOrEqual(await repo.revision());
        // nothing lost, nothing twice: without a list, one event per write
        if (resyncs === before.resyncs && o.op !== 'reconnect' && o.op !== 'writeDuringList') expect(events - before.events).toBe(writes);
        // the indexes agree with the cache
        for (const p of ['p0', 'p1']) expect(informer.byIndex(byProject, p).map(objectKey).sort()).toEqual([...informer.items.values()].filter((i) => i.metadata.project === p).map(objectKey).sort());
        for (const v of informer.indexValues(app)) expect(informer.byIndex(app, v).every((i) => `${i.metadata.project}/${i.metadata.labels?.app}` === v)).toBe(true);
      }
      sub.close();
      await backend.close();
      if (backend instanceof SqliteBackend) rmSync(dirname(backend.path), { recursive: true, force: true });
    }), { numRuns, seed: 11 });
  });

  it('replays what it holds to a late subscriber, stops with its last one and lists afresh when used again', async () => {
    const repo = new Repository(new MemoryBackend());
    const informers = new Informers(repo);
    const inf = informers.of<Instance>(instanceKind);
    expect(informers.of(instanceKind)).toBe(inf);
    await repo.create(instanceKind, { metadata: { name: 'a', project: 'p' }, spec: SPEC });
    const first = await inf.use();
    await repo.create(instanceKind, { metadata: { name: 'b', project: 'p' }, spec: SPEC });
    const seen: string[] = [];
    const late = await inf.use({ add: (i) => seen.push(i.metadata.name) });
    expect(seen).toEqual(['a', 'b']);
    const quiet: string[] = [];
    const noReplay = await inf.use({ add: (i) => quiet.push(i.metadata.name) }, { replay: false });
    await repo.create(instanceKind, { metadata: { name: 'c', project: 'p' }, spec: SPEC });
    expect(quiet).toEqual(['c']);
    first.close();
    late.close();
    expect(inf.hasSynced).toBe(true);
    noReplay.close();
    expect(inf.hasSynced).toBe(false);
    expect(inf.items.size).toBe(0);
    await repo.delete(instanceKind, 'a', 'p');
    const again = await inf.use();
    expect([...inf.items.keys()]).toEqual(['p/b', 'p/c']);
    again.close();
  });

  it('keeps one handler\'s failure from the others, and says so', async () => {
    const repo = new Repository(new MemoryBackend());
    const inf = new Informers(repo).of<Instance>(instanceKind);
    const seen: string[] = [];
    const bad = await inf.use({ add: () => { throw new Error('boom'); } });
    const good = await inf.use({ add: (i) => seen.push(i.metadata.name) });
    await repo.create(instanceKind, { metadata: { name: 'a', project: 'p' }, spec: SPEC });
    expect(seen).toEqual(['a']);
    expect(inf.health()).toMatch(/handler failed: boom/);
    bad.close();
    good.close();
  });
});
