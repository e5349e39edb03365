/**
 * The shared informers of one store: one per kind (and one per record prefix, such as the
 * scheduler's ledger), made on first request and shared by every component that asks, so the
 * process lists each collection once, watches it once and decodes each change once.
 *
 *   informers.of(instanceKind) ──▶ Informer<Instance>   (cache key: "<project>/<name>", or the name)
 *   informers.records(prefix)  ──▶ Informer<KeyValue>   (cache key: the store key)
 *
 * Index definitions shared by the components are here too (by project, by bound node, by label).
 */
import type { Repository } from '../store/repository.js';
import type { KeyValue } from '../store/backend.js';
import type { Kind, StoredObject } from '../model/kind.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Prefix } from '../model/keyspace.js';
import { Informer, type IndexDef, type Source } from './informer.js';

/** The cache key of an object: "<project>/<name>" for project kinds, the name for cluster kinds. */
export const objectKey = (o: { metadata: { name: string; project?: string } }): string =>
  (o.metadata.project === undefined ? o.metadata.name : `${o.metadata.project}/${o.metadata.name}`);

/** Objects by project. */
export const byProject: IndexDef<StoredObject> = {
  name: 'project',
  values: (o) => (o.metadata.project === undefined ? [] : [o.metadata.project]),
};

/** Instances by the node they are bound to (status.node). */
export const byNode: IndexDef<Instance> = {
  name: 'status.node',
  values: (i) => (i.status?.node === undefined ? [] : [i.status.node]),
};

/** Objects by the value of `label`, within their project: "<project>/<value>". */
export function byLabel(label: string): IndexDef<StoredObject> {
  return {
    name: `label:${label}`,
    values: (o) => {
      const v = o.metadata.labels?.[label];
      return v === undefined ? [] : [`${o.metadata.project ?? ''}/${v}`];
    },
  };
}

export class Informers {
  private readonly kinds = new Map<string, Informer<StoredObject>>();
  private readonly prefixes = new Map<string, Informer<KeyValue>>();

  constructor(readonly repo: Repository) {}

  /** The informer of `kind` (not started: `use` starts it). */
  of<T extends StoredObject>(kind: Kind): Informer<T> {
    let informer = this.kinds.get(kind.kind);
    if (!informer) {
      informer = new Informer<StoredObject>(kind.plural, objectSource(this.repo, kind), { keyOf: objectKey, revisionOf: (o) => o.metadata.revision });
      this.kinds.set(kind.kind, informer);
    }
    return informer as unknown as Informer<T>;
  }

  /** The informer of the records under `prefix` (a key from model/keyspace.ts). */
  records(prefix: Prefix): Informer<KeyValue> {
    let informer = this.prefixes.get(prefix);
    if (!informer) {
      informer = new Informer<KeyValue>(prefix, recordSource(this.repo, prefix), { keyOf: (kv) => kv.key, revisionOf: (kv) => kv.modRevision });
      this.prefixes.set(prefix, informer);
    }
    return informer;
  }

  /** '' when every informer is healthy, else the first problem. */
  health(): string {
    for (const i of [...this.kinds.values(), ...this.prefixes.values()]) if (i.health()) return i.health();
    return '';
  }
}

/** The objects of a kind: the repository's list, the store's watch of the kind's prefix (decoded once per change). */
export function objectSource<T extends StoredObject>(repo: Repository, kind: Kind): Source<T> {
  const prefix = repo.prefix(kind);
  return {
    list: async () => {
      const revision = await repo.revision();
      return { items: (await repo.list<T>(kind)).items, revision };
    },
    watch: (from, onEvent) => repo.records.watch(prefix, from, (e) => {
      if (e.type === 'resync') onEvent({ type: 'resync', reason: e.reason });
      else onEvent({ type: e.type, object: repo.decode<T>(e.kv.value, e.kv.modRevision), revision: e.kv.modRevision });
    }),
  };
}

/** The records under a prefix, as the store has them. */
export function recordSource(repo: Repository, prefix: Prefix): Source<KeyValue> {
  return {
    list: async () => {
      const revision = await repo.revision();
      const items: KeyValue[] = [];
      for (let startAfter: string | undefined; ;) {
        const page = await repo.records.range(prefix, { startAfter, limit: 1000 });
        items.push(...page.items);
        if (!page.more) return { items, revision };
        startAfter = page.items.at(-1)!.key;
      }
    },
    watch: (from, onEvent) => repo.records.watch(prefix, from, (e) => {
      if (e.type === 'resync') onEvent({ type: 'resync', reason: e.reason });
      else onEvent({ type: e.type, object: e.kv, revision: e.kv.modRevision });
    }),
  };
}
