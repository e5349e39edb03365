/**
 * Costs from the store: the price lists, the nodes' zones and labels, and the meter records
 * (MeterReader, runtime/metering-store.ts) handed to the pure computations (model/cost.ts,
 * model/cost-focus.ts). Used by the costs routes (any server) and the budgets controller (leader).
 * Reports read settled days from their daily rollups where no price list takes effect inside
 * them (the same amounts, far fewer rows); FOCUS reads the hours (a row per instance-hour).
 * Reads only; nothing is cached between calls (price lists change rarely, and a report is a
 * question asked now and then, not every second).
 */
import type { Repository } from '../store/repository.js';
import { nodeKind, priceListKind } from '../model/kinds/index.js';
import type { Node } from '../model/kinds/node.js';
import type { PriceList } from '../model/kinds/price-list.js';
import type { MeterReader } from '../model/metering.js';
import { PriceBook, type NodeInfo } from '../model/cost-prices.js';
import { computeCost, type CostGroup, type CostReport } from '../model/cost.js';
import { focusCsv, focusRows } from '../model/cost-focus.js';
import { StoreMeterReader } from './metering-store.js';

export interface CostQuery {
  since: Date;
  until: Date;
  /** Only this project. */
  project?: string;
  /** Only these projects (what a member may read). */
  projects?: ReadonlySet<string>;
}

export class CostSource {
  private readonly reader: MeterReader;

  constructor(private readonly repo: Repository, reader?: MeterReader) {
    this.reader = reader ?? new StoreMeterReader(repo.records);
  }

  /** Every price list, as a history. */
  async book(): Promise<PriceBook> {
    const { items } = await this.repo.list<PriceList>(priceListKind);
    return new PriceBook(items.map((l) => ({ name: l.metadata.name, spec: l.spec })));
  }

  /** Pool, zone and labels of the nodes there are now (the records know pools and labels of the nodes they saw). */
  async nodes(): Promise<Map<string, NodeInfo>> {
    const { items } = await this.repo.list<Node>(nodeKind);
    return new Map(items.map((n) => [n.metadata.name, { ...(n.spec.pool ? { pool: n.spec.pool } : {}), ...(n.spec.zone ? { zone: n.spec.zone } : {}), labels: n.metadata.labels ?? {} }]));
  }

  /** The report grouped by `by`; `idle` (cluster admins) adds the idle cost per pool, and needs every node's records. */
  async report(q: CostQuery & { by: CostGroup; idle?: boolean }): Promise<CostReport> {
    const [book, nodes] = await Promise.all([this.book(), this.nodes()]);
    // whole days between price changes come from their rollups (30 rows a run for 30 days, not 720)
    const records = await this.reader.read({ since: q.since, until: q.until, ...(q.project !== undefined && !q.idle ? { project: q.project } : {}), daily: { splits: book.changes() } });
    return computeCost(records, book, { since: q.since, until: q.until, by: q.by, nodes, idle: q.idle === true, ...(q.project !== undefined ? { project: q.project } : {}), ...(q.projects ? { projects: q.projects } : {}) });
  }

  /** The FOCUS CSV of the period. */
  async focus(q: CostQuery & { account?: string }): Promise<string> {
    const [book, nodes, records] = await Promise.all([this.book(), this.nodes(), this.reader.read({ since: q.since, until: q.until, ...(q.project !== undefined ? { project: q.project } : {}) })]);
    return focusCsv(focusRows(records, book, { ...q, nodes }));
  }
}
