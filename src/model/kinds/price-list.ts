/**
 * price-list: what resources cost, from `effectiveFrom` on (cluster scope). Several lists make the
 * price history: the list in effect at an hour is the one with the latest `effectiveFrom` at or
 * before the start of that hour (model/cost-prices.ts `PriceBook`), until the next list's. Two
 * lists may not start at the same hour, and all lists use one currency (the `price-list-dates`
 * admission check): a report sums amounts across hours.
 *
 *   prices     the base rates: per CPU core-hour, GiB-hour of memory, GPU-hour by model (a share
 *              of a device pays its fraction, at gpuShareHour when set), GiB-month of volume
 *              (730 hours), instance-hour by driver
 *   nodes      rates of nodes of a pool, a zone or with labels (a GPU node in one zone costs more): the
 *              first entry that matches a node replaces the rates it sets
 *   projects   per-project discounts (percent off every amount) and rate overrides
 *
 * Cluster admins write and read price lists (per-project discounts are no other project's
 * business); project members see their costs through `stratus cost report`.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineKind, type DescribeLine, type StoredObject } from '../kind.js';
import { DnsLabel, LabelMap, Strict, Timestamp } from '../schema.js';
import { GPU_MODEL_PATTERN } from '../resources.js';
import { labelKeyProblem, labelValueProblem } from '../labels.js';
import { age } from '../format.js';
import type { FieldProblem } from '../errors.js';

const Price = (description: string) =>
  Type.Number({ minimum: 0, maximum: 1e9, description, errorMessage: 'is not a price: a number ≥ 0 (e.g. 0.04)' });
const PriceByName = (pattern: string, description: string) =>
  Type.Record(Type.String({ pattern }), Price('Price.'), { maxProperties: 64, description });

export const RatesSchema = Type.Object(
  {
    cpuCoreHour: Type.Optional(Price('Per CPU core for an hour.')),
    memoryGiBHour: Type.Optional(Price('Per GiB of memory for an hour.')),
    gpuHour: Type.Optional(PriceByName(GPU_MODEL_PATTERN, 'Per GPU device for an hour, by model (e.g. {"nvidia-a100": 2.5}).')),
    gpuShareHour: Type.Optional(PriceByName(GPU_MODEL_PATTERN, 'Per GPU-hour of a shared device (a share pays its fraction), by model; default: gpuHour.')),
    volumeGiBMonth: Type.Optional(Price('Per GiB of volume for a month (730 hours).')),
    instanceHour: Type.Optional(PriceByName('^[a-z][a-z0-9-]{0,31}$', 'Per instance for an hour, by driver (e.g. {"vm": 0.01}).')),
  },
  { ...Strict, description: 'Rates; an absent rate is 0 (or, in nodes and projects, the base rate).' },
);

export const PriceListSpecSchema = Type.Object(
  {
    currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, e.g. EUR, USD.', errorMessage: 'is not an ISO 4217 currency code (three capital letters, e.g. EUR)' }),
    effectiveFrom: Timestamp('The start of the first UTC hour the list prices (until the next list\'s effectiveFrom).'),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
    prices: RatesSchema,
    nodes: Type.Optional(Type.Array(Type.Object({
      pool: Type.Optional(DnsLabel({ description: 'Nodes of this pool.' })),
      zone: Type.Optional(DnsLabel({ description: 'Nodes of this zone (the node\'s spec.zone).' })),
      selector: Type.Optional(LabelMap('Nodes with all these labels.')),
      prices: RatesSchema,
    }, Strict), { maxItems: 64, description: 'Rates of some nodes: the first entry matching a node replaces the rates it sets.' })),
    projects: Type.Optional(Type.Array(Type.Object({
      project: DnsLabel({ description: 'The project.' }),
      discountPercent: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: 'Percent off every amount of the project.', errorMessage: 'is not a percentage between 0 and 100' })),
      prices: Type.Optional(RatesSchema),
    }, Strict), { maxItems: 1000, description: 'Per-project overrides: rates replaced, then the discount.' })),
  },
  Strict,
);

export type Rates = Static<typeof RatesSchema>;
export type PriceListSpec = Static<typeof PriceListSpecSchema>;
export type PriceList = StoredObject<PriceListSpec, Record<string, never>>;

const CURRENCIES: ReadonlySet<string> = new Set(Intl.supportedValuesOf('currency'));

/** An unknown ISO 4217 code at spec.currency (the schema checks the shape: three capitals). */
export function currencyProblem(currency: string): FieldProblem | undefined {
  if (!/^[A-Z]{3}$/.test(currency) || CURRENCIES.has(currency)) return undefined;
  return { path: 'spec.currency', message: 'is not an ISO 4217 currency code this server knows (e.g. EUR, USD, JPY)', value: currency };
}

/** Problems the schema cannot see: an unknown currency, a start that is not an hour, selectors, repeated projects. Pure. */
export function priceListProblems(spec: PriceListSpec): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const c = currencyProblem(spec.currency);
  if (c) problems.push(c);
  const from = Date.parse(spec.effectiveFrom);
  if (Number.isFinite(from) && from % 3_600_000 !== 0) {
    problems.push({ path: 'spec.effectiveFrom', message: 'must be the start of a UTC hour (e.g. 2026-12-01T00:00:00Z): costs are computed by the hour', value: spec.effectiveFrom });
  }
  (spec.nodes ?? []).forEach((n, i) => {
    if (n.pool === undefined && n.zone === undefined && n.selector === undefined) problems.push({ path: `spec.nodes[${i}]`, message: 'needs a pool, a zone or a selector (which nodes these rates are for)' });
    for (const [k, v] of Object.entries(n.selector ?? {})) {
      const p = labelKeyProblem(k) ?? labelValueProblem(v);
      if (p) problems.push({ path: `spec.nodes[${i}].selector.${k}`, message: p, value: v });
    }
  });
  const seen = new Set<string>();
  (spec.projects ?? []).forEach((p, i) => {
    if (seen.has(p.project)) problems.push({ path: `spec.projects[${i}].project`, message: 'is listed twice (one entry per project)', value: p.project });
    seen.add(p.project);
  });
  return problems;
}

/** "cpu 0.04/core-h, memory 0.005/GiB-h, gpu nvidia-a100 2.5/h, volume 0.1/GiB-month, instance vm 0.01/h". */
export function ratesText(r: Rates | undefined): string {
  if (!r) return '';
  const named = (m: Record<string, number> | undefined, unit: string) => Object.entries(m ?? {}).map(([k, v]) => `${k} ${v}${unit}`);
  return [
    r.cpuCoreHour !== undefined ? `cpu ${r.cpuCoreHour}/core-h` : '',
    r.memoryGiBHour !== undefined ? `memory ${r.memoryGiBHour}/GiB-h` : '',
    ...named(r.gpuHour, '/h').map((s) => `gpu ${s}`),
    ...named(r.gpuShareHour, '/h shared').map((s) => `gpu ${s}`),
    r.volumeGiBMonth !== undefined ? `volume ${r.volumeGiBMonth}/GiB-month` : '',
    ...named(r.instanceHour, '/h').map((s) => `instance ${s}`),
  ].filter(Boolean).join(', ');
}

const list = (o: StoredObject<never, never>) => o as unknown as PriceList;

function describePriceList(p: PriceList): DescribeLine[] {
  const out: DescribeLine[] = [
    { field: 'Currency', value: p.spec.currency },
    { field: 'Effective from', value: p.spec.effectiveFrom },
    { field: 'Prices', value: ratesText(p.spec.prices) },
  ];
  if (p.spec.nodes?.length) out.push({ title: 'Nodes', headers: ['POOL', 'ZONE', 'SELECTOR', 'PRICES'], rows: p.spec.nodes.map((n) => [n.pool ?? '*', n.zone ?? '*', Object.entries(n.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(','), ratesText(n.prices)]) });
  if (p.spec.projects?.length) out.push({ title: 'Projects', headers: ['PROJECT', 'DISCOUNT', 'PRICES'], rows: p.spec.projects.map((x) => [x.project, x.discountPercent ? `${x.discountPercent} %` : '', ratesText(x.prices)]) });
  return out;
}

export const priceListKind = defineKind({
  kind: 'price-list',
  plural: 'price-lists',
  title: 'PriceList',
  aliases: ['pricelist', 'pricelists', 'prices'],
  scope: 'cluster',
  description: 'What resources cost from effectiveFrom on: per core-hour, GiB-hour, GPU-hour, GiB-month of volume and instance-hour, by node pool or label, with per-project discounts.',
  spec: PriceListSpecSchema,
  status: Type.Object({}, Strict),
  writers: 'cluster-admins',
  // Per-project discounts are between the operator and each project: only cluster admins read lists.
  access: { visibleTo: 'cluster-admins', hidden: true },
  admission: ['price-list-dates'],
  normalize: (spec, problems) => {
    problems.push(...priceListProblems(spec));
    return spec;
  },
  describe: (o) => describePriceList(o as unknown as PriceList),
  columns: [
    { header: 'NAME', get: (o) => o.metadata.name },
    { header: 'CURRENCY', get: (o) => list(o).spec.currency },
    { header: 'EFFECTIVE FROM', get: (o) => list(o).spec.effectiveFrom },
    { header: 'PRICES', get: (o) => ratesText(list(o).spec.prices) },
    { header: 'AGE', get: (o) => age(o.metadata.createdAt), wide: true },
  ],
});
