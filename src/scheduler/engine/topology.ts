/**
 * Counts of instances per topology domain (node, zone), for affinity, anti-affinity and spread.
 *
 * - `counts(project, selector)`: how many instances of `project` matching `selector` run on each
 *   node and in each zone. Built on first use by scanning the project, then kept up to date as
 *   instances are added and removed.
 * - `holders(project, labels)`: the required anti-affinity terms held by placed instances that
 *   select a newcomer with `labels`, with the domains where their holders run (symmetry: an
 *   instance that refuses neighbours keeps them away even when they say nothing).
 *
 * Counters are found through buckets keyed by one `key=value` requirement of their selector, so
 * adding an instance only looks at counters that could match its labels.
 */
import { matches, type Labels, type Selector } from '../../model/labels.js';
import { selectorOf } from './request.js';
import type { PlacedInstance, Topology } from './types.js';

export interface DomainCounts {
  readonly selectorText: string;
  readonly selector: Selector;
  readonly perNode: ReadonlyMap<string, number>;
  readonly perZone: ReadonlyMap<string, number>;
  readonly total: number;
}

/** A holder counter: instances holding one required anti-affinity term, per domain. */
export interface HolderCounts extends DomainCounts {
  readonly topology: Topology;
}

class Counter implements HolderCounts {
  readonly perNode = new Map<string, number>();
  readonly perZone = new Map<string, number>();
  total = 0;
  constructor(
    readonly selectorText: string,
    readonly selector: Selector,
    readonly topology: Topology = 'node',
  ) {}

  add(node: string, zone: string | undefined, by: number): void {
    this.total += by;
    bump(this.perNode, node, by);
    if (zone !== undefined) bump(this.perZone, zone, by);
  }
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}

/** Buckets a selector can be found under: one per value of its first `=`/`in` requirement, else "*". */
function bucketsOf(selector: Selector): string[] {
  const eq = selector.find((r) => r.op === 'eq');
  if (eq) return [`${eq.key}=${eq.values[0]}`];
  const inReq = selector.find((r) => r.op === 'in');
  if (inReq) return inReq.values.map((v) => `${inReq.key}=${v}`);
  return ['*'];
}

class BucketedCounters {
  readonly byKey = new Map<string, Counter>();
  private readonly buckets = new Map<string, Counter[]>();

  register(project: string, key: string, counter: Counter): void {
    this.byKey.set(key, counter);
    for (const b of bucketsOf(counter.selector)) {
      const k = `${project}\u0000${b}`;
      const list = this.buckets.get(k);
      if (list) list.push(counter);
      else this.buckets.set(k, [counter]);
    }
  }

  /** Every counter of `project` whose selector matches `labels`. */
  matching(project: string, labels: Labels): Counter[] {
    const out: Counter[] = [];
    for (const k in labels) this.collect(`${project}\u0000${k}=${labels[k]}`, labels, out);
    this.collect(`${project}\u0000*`, labels, out);
    return out;
  }

  private collect(bucket: string, labels: Labels, out: Counter[]): void {
    const list = this.buckets.get(bucket);
    if (list) for (const c of list) if (matches(c.selector, labels)) out.push(c);
  }

  clear(): void {
    this.byKey.clear();
    this.buckets.clear();
  }

  all(): IterableIterator<Counter> {
    return this.byKey.values();
  }
}

const MAX_COUNTERS = 50_000;

export class TopologyIndex {
  private readonly members = new Map<string, Set<PlacedInstance>>();
  private readonly counters = new BucketedCounters();
  private readonly holderCounters = new BucketedCounters();

  constructor(private readonly zoneOf: (node: string) => string | undefined) {}

  /** Instances of `project` matching `selectorText`, per node and per zone. */
  counts(project: string, selectorText: string): DomainCounts {
    const key = `${project}\u0000${selectorText}`;
    const found = this.counters.byKey.get(key);
    if (found) return found;
    if (this.counters.byKey.size >= MAX_COUNTERS) this.counters.clear();
    const counter = new Counter(selectorText, selectorOf(selectorText));
    for (const rec of this.members.get(project) ?? []) {
      if (matches(counter.selector, rec.labels)) counter.add(rec.node, this.zoneOf(rec.node), 1);
    }
    this.counters.register(project, key, counter);
    return counter;
  }

  /** Required anti-affinity terms of placed instances of `project` that select `labels`. */
  holders(project: string, labels: Labels): HolderCounts[] {
    return this.holderCounters.matching(project, labels).filter((c) => c.total > 0);
  }

  add(rec: PlacedInstance): void {
    this.update(rec, 1);
  }

  remove(rec: PlacedInstance): void {
    this.update(rec, -1);
  }

  private update(rec: PlacedInstance, by: 1 | -1): void {
    let set = this.members.get(rec.project);
    if (!set) this.members.set(rec.project, (set = new Set()));
    if (by > 0) set.add(rec);
    else set.delete(rec);
    const zone = this.zoneOf(rec.node);
    for (const c of this.counters.matching(rec.project, rec.labels)) c.add(rec.node, zone, by);
    for (const t of rec.antiTerms) {
      const key = `${rec.project}\u0000${t.topology}\u0000${t.selectorText}`;
      let c = this.holderCounters.byKey.get(key);
      if (!c) {
        c = new Counter(t.selectorText, t.selector, t.topology);
        this.holderCounters.register(rec.project, key, c);
      }
      c.add(rec.node, zone, by);
    }
  }

  /** A node moved from zone `from` to zone `to`: move its counts. */
  moveZone(node: string, from: string | undefined, to: string | undefined): void {
    if (from === to) return;
    for (const c of [...this.counters.all(), ...this.holderCounters.all()]) {
      const n = c.perNode.get(node);
      if (!n) continue;
      if (from !== undefined) bump(c.perZone, from, -n);
      if (to !== undefined) bump(c.perZone, to, n);
    }
  }
}
