/**
 * Which rates apply to a record: the price list in effect at its hour (the latest effectiveFrom at
 * or before the hour), then the first of the list's `nodes` entries matching its node (pool, zone,
 * labels) over the base rates, then its project's entry (rates replaced, then the discount).
 * Pure; resolved rates are cached per (list, project, node), so pricing a record is a few lookups.
 */
import type { PriceListSpec, Rates } from './kinds/price-list.js';

/** What the price lists need to know of a node. */
export interface NodeInfo {
  pool?: string;
  zone?: string;
  labels?: Record<string, string>;
}

/** Rates of one (hour's list, project, node), absent ones 0, with the project's discount as a factor. */
export interface ResolvedRates {
  list: string;
  currency: string;
  cpuCoreHour: number;
  memoryGiBHour: number;
  gpuHour: Record<string, number>;
  gpuShareHour: Record<string, number>;
  volumeGiBMonth: number;
  instanceHour: Record<string, number>;
  /** 1 − discount ÷ 100: every amount of the project is multiplied by it. */
  factor: number;
}

export interface NamedPriceList {
  name: string;
  spec: PriceListSpec;
}

/** Hours in the month of a GiB-month price (365 × 24 ÷ 12, as the public clouds count). */
export const HOURS_PER_MONTH = 730;

/** The price history: lists sorted by effectiveFrom, with their resolved rates cached. */
export class PriceBook {
  private readonly lists: { from: number; list: NamedPriceList }[];
  private readonly cache = new Map<string, ResolvedRates>();
  private readonly byHour = new Map<string, NamedPriceList | undefined>();

  constructor(lists: readonly NamedPriceList[]) {
    this.lists = lists.map((list) => ({ from: Date.parse(list.spec.effectiveFrom), list })).sort((a, b) => a.from - b.from);
  }

  /** The currency of the lists (admission keeps it one); undefined without lists. */
  get currency(): string | undefined {
    return this.lists[this.lists.length - 1]?.list.spec.currency;
  }

  /** When each list takes effect (ms): where the rates may change (a rollup's day must not span one). */
  changes(): number[] {
    return this.lists.map((l) => l.from);
  }

  /** The list in effect at the start of `hour` (ISO), or undefined before the first list. */
  listAt(hour: string): NamedPriceList | undefined {
    if (this.byHour.has(hour)) return this.byHour.get(hour);
    const t = Date.parse(hour);
    let found: NamedPriceList | undefined;
    for (const l of this.lists) {
      if (l.from > t) break;
      found = l.list;
    }
    this.byHour.set(hour, found);
    return found;
  }

  /** The rates of a record of `project` on `node` at `hour`, or undefined when no list was in effect. */
  rates(hour: string, project: string, node: NodeInfo): ResolvedRates | undefined {
    const list = this.listAt(hour);
    if (!list) return undefined;
    const key = `${list.name}\0${project}\0${node.pool ?? ''}\0${node.zone ?? ''}\0${labelsKey(node.labels)}`;
    let r = this.cache.get(key);
    if (!r) {
      r = resolve(list, project, node);
      this.cache.set(key, r);
    }
    return r;
  }
}

function labelsKey(labels: Record<string, string> | undefined): string {
  return labels ? Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(',') : '';
}

/** Whether a `nodes` entry of a list is for this node: every condition it sets holds. */
export function nodeMatches(entry: { pool?: string; zone?: string; selector?: Record<string, string> }, node: NodeInfo): boolean {
  if (entry.pool !== undefined && entry.pool !== node.pool) return false;
  if (entry.zone !== undefined && entry.zone !== node.zone) return false;
  return Object.entries(entry.selector ?? {}).every(([k, v]) => node.labels?.[k] === v);
}

/** Base rates, then the first matching node entry's, then the project's; the discount as a factor. */
export function resolve(list: NamedPriceList, project: string, node: NodeInfo): ResolvedRates {
  const spec = list.spec;
  const nodeEntry = (spec.nodes ?? []).find((e) => nodeMatches(e, node));
  const projectEntry = (spec.projects ?? []).find((p) => p.project === project);
  const layers = [spec.prices, nodeEntry?.prices, projectEntry?.prices].filter((x): x is Rates => x !== undefined);
  const last = <K extends keyof Rates>(k: K): Rates[K] => layers.reduce<Rates[K]>((v, l) => (l[k] !== undefined ? l[k] : v), undefined);
  const merged = <K extends 'gpuHour' | 'gpuShareHour' | 'instanceHour'>(k: K) => Object.assign({}, ...layers.map((l) => l[k] ?? {})) as Record<string, number>;
  return {
    list: list.name,
    currency: spec.currency,
    cpuCoreHour: last('cpuCoreHour') ?? 0,
    memoryGiBHour: last('memoryGiBHour') ?? 0,
    gpuHour: merged('gpuHour'),
    gpuShareHour: merged('gpuShareHour'),
    volumeGiBMonth: last('volumeGiBMonth') ?? 0,
    instanceHour: merged('instanceHour'),
    factor: 1 - (projectEntry?.discountPercent ?? 0) / 100,
  };
}

/** The hourly price of one whole device of `model` used at `share` (shares use gpuShareHour when set). */
export function gpuRate(r: ResolvedRates, model: string, share: number): number {
  if (share < 1 && r.gpuShareHour[model] !== undefined) return r.gpuShareHour[model]!;
  return r.gpuHour[model] ?? 0;
}
