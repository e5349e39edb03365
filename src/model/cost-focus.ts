/**
 * The FinOps Foundation's FOCUS (1.0) cost and usage columns, one row per instance-hour and
 * resource (CPU, memory, each GPU model, the instance-hour fee) and per volume-hour, so FinOps
 * tools read Stratus like a public cloud's bill. Pure.
 *
 *   PricingQuantity  what is charged: max(reserved, used) for CPU and memory (cost.ts's rule)
 *   ConsumedQuantity what was used
 *   ListUnitPrice    the price list's rate; ContractedUnitPrice: after the project's discount
 *   ListCost = PricingQuantity × ListUnitPrice; BilledCost = EffectiveCost = ContractedCost =
 *   PricingQuantity × ContractedUnitPrice (no commitments, no amortisation)
 *   SubAccountId/Name the project; AvailabilityZone the node's zone; Tags the instance's labels (JSON)
 */
import type { InstanceMeter, MeterRecords, VolumeMeter } from './metering.js';
import { gpuRate, HOURS_PER_MONTH, type NodeInfo, type PriceBook, type ResolvedRates } from './cost-prices.js';
import { nodeInfos, projectFilter } from './cost.js';
import { toCsv, type Cell } from './csv.js';

export const FOCUS_COLUMNS = [
  'BilledCost', 'EffectiveCost', 'ListCost', 'ContractedCost', 'ListUnitPrice', 'ContractedUnitPrice', 'BillingCurrency',
  'BillingAccountId', 'BillingAccountName', 'BillingPeriodStart', 'BillingPeriodEnd', 'ChargePeriodStart', 'ChargePeriodEnd',
  'ChargeCategory', 'ChargeClass', 'ChargeFrequency', 'ChargeDescription', 'PricingCategory', 'ProviderName', 'PublisherName', 'InvoiceIssuerName',
  'ResourceId', 'ResourceName', 'ResourceType', 'ServiceName', 'ServiceCategory', 'SkuId', 'SubAccountId', 'SubAccountName',
  'RegionId', 'RegionName', 'AvailabilityZone', 'ConsumedQuantity', 'ConsumedUnit', 'PricingQuantity', 'PricingUnit', 'Tags',
] as const;

export type FocusColumn = (typeof FOCUS_COLUMNS)[number];
export type FocusRow = Partial<Record<FocusColumn, Cell>>;

export interface FocusOptions {
  since: Date;
  until: Date;
  project?: string;
  projects?: ReadonlySet<string>;
  nodes?: ReadonlyMap<string, NodeInfo>;
  /** The cluster's name (BillingAccountId/Name). */
  account?: string;
}

/** [start, end) of the calendar month (UTC) holding `hour`. */
export function billingPeriod(hour: string): [string, string] {
  const d = new Date(hour);
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return [new Date(start).toISOString(), new Date(end).toISOString()];
}

const round = (v: number) => Math.round(v * 1e9) / 1e9;

interface Charge { sku: string; description: string; unit: string; pricingQuantity: number; consumed: number; listPrice: number }

/** The charges of one instance-hour: CPU, memory, each GPU (model, shared or not), the instance fee. */
function instanceCharges(m: InstanceMeter, r: ResolvedRates): Charge[] {
  const h = 3600;
  const cpuUsed = m.cpuSeconds / h;
  const memUsed = m.memoryGiBSeconds / h;
  const out: Charge[] = [
    { sku: 'cpu', description: `CPU of instance ${m.project}/${m.name}: max(${round(m.cpuReservedSeconds / h)} reserved, ${round(cpuUsed)} used) core-hours`, unit: 'Core-Hours', pricingQuantity: Math.max(m.cpuReservedSeconds / h, cpuUsed), consumed: cpuUsed, listPrice: r.cpuCoreHour },
    { sku: 'memory', description: `Memory of instance ${m.project}/${m.name}: max(${round(m.memoryReservedGiBSeconds / h)} reserved, ${round(memUsed)} used) GiB-hours`, unit: 'GiB-Hours', pricingQuantity: Math.max(m.memoryReservedGiBSeconds / h, memUsed), consumed: memUsed, listPrice: r.memoryGiBHour },
  ];
  for (const g of m.gpu ?? []) {
    const q = (g.share * g.seconds) / h;
    out.push({ sku: `gpu/${g.model}${g.share < 1 ? '/shared' : ''}`, description: `GPU ${g.model}${g.share < 1 ? ` (share ${g.share})` : ''} of instance ${m.project}/${m.name}`, unit: 'GPU-Hours', pricingQuantity: q, consumed: q, listPrice: gpuRate(r, g.model, g.share) });
  }
  const fee = r.instanceHour[m.driver];
  if (fee) out.push({ sku: `instance/${m.driver}`, description: `Instance-hours of ${m.project}/${m.name} (${m.driver})`, unit: 'Hours', pricingQuantity: m.seconds / h, consumed: m.seconds / h, listPrice: fee });
  return out.filter((c) => c.pricingQuantity > 0);
}

function volumeCharge(v: VolumeMeter, r: ResolvedRates): Charge {
  const q = v.gibSeconds / 3600 / HOURS_PER_MONTH;
  return { sku: 'volume', description: `Volume ${v.project}/${v.name}: GiB-months (GiB-hours ÷ ${HOURS_PER_MONTH})`, unit: 'GiB-Months', pricingQuantity: q, consumed: q, listPrice: r.volumeGiBMonth };
}

function row(hour: string, c: Charge, r: ResolvedRates, res: { id: string; name: string; type: string; project: string; zone?: string; tags: Record<string, string>; service: string; category: string }, account: string): FocusRow {
  const [bStart, bEnd] = billingPeriod(hour);
  const contracted = c.listPrice * r.factor;
  const cost = round(c.pricingQuantity * contracted);
  return {
    BilledCost: cost, EffectiveCost: cost, ContractedCost: cost, ListCost: round(c.pricingQuantity * c.listPrice),
    ListUnitPrice: c.listPrice, ContractedUnitPrice: round(contracted), BillingCurrency: r.currency,
    BillingAccountId: account, BillingAccountName: account, BillingPeriodStart: bStart, BillingPeriodEnd: bEnd,
    ChargePeriodStart: hour, ChargePeriodEnd: new Date(Date.parse(hour) + 3_600_000).toISOString(),
    ChargeCategory: 'Usage', ChargeFrequency: 'Usage-Based', ChargeDescription: c.description, PricingCategory: 'Standard',
    ProviderName: 'Stratus', PublisherName: 'Stratus', InvoiceIssuerName: account,
    ResourceId: res.id, ResourceName: res.name, ResourceType: res.type, ServiceName: res.service, ServiceCategory: res.category, SkuId: c.sku,
    SubAccountId: res.project, SubAccountName: res.project, AvailabilityZone: res.zone,
    ConsumedQuantity: round(c.consumed), ConsumedUnit: c.unit, PricingQuantity: round(c.pricingQuantity), PricingUnit: c.unit,
    Tags: JSON.stringify(res.tags),
  };
}

/** FOCUS rows of the priced records in [since, until) (records before any price list are left out). */
export function focusRows(records: MeterRecords, book: PriceBook, opts: FocusOptions): FocusRow[] {
  const since = opts.since.toISOString();
  const until = opts.until.toISOString();
  const account = opts.account ?? 'stratus';
  const nodes = nodeInfos(records.nodes, opts.nodes);
  const skip = projectFilter(opts);
  const keep = (hour: string, project: string) => hour >= since && hour < until && !skip(project);
  const out: FocusRow[] = [];
  for (const m of records.instances) {
    if (!keep(m.hour, m.project)) continue;
    const info = nodes.get(m.node) ?? {};
    const r = book.rates(m.hour, m.project, { ...info, pool: m.pool ?? info.pool });
    if (!r) continue;
    const tags = { ...m.labels, ...(m.service ? { 'stratus.io/service': m.service } : {}), 'stratus.io/node': m.node };
    const res = { id: m.uid, name: `${m.project}/${m.name}`, type: 'Instance', project: m.project, zone: info.zone, tags, service: 'Stratus Compute', category: 'Compute' };
    for (const c of instanceCharges(m, r)) out.push(row(m.hour, c, r, res, account));
  }
  for (const v of records.volumes) {
    if (!keep(v.hour, v.project)) continue;
    const info = (v.node ? nodes.get(v.node) : undefined) ?? {};
    const r = book.rates(v.hour, v.project, info);
    if (!r || v.gibSeconds <= 0) continue;
    const res = { id: `volume/${v.project}/${v.name}`, name: `${v.project}/${v.name}`, type: 'Volume', project: v.project, zone: info.zone, tags: {}, service: 'Stratus Volumes', category: 'Storage' };
    out.push(row(v.hour, volumeCharge(v, r), r, res, account));
  }
  return out;
}

/** The rows as CSV with the FOCUS header (csv.ts: quoted, formulas neutralised). */
export function focusCsv(rows: readonly FocusRow[]): string {
  return toCsv(FOCUS_COLUMNS, rows.map((r) => FOCUS_COLUMNS.map((c) => r[c])));
}
