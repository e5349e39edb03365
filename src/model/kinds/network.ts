/**
 * network: a project's virtual network, an IPv4 address range spanning every node that runs one
 * of its instances (a bridge per node, joined across nodes by VXLAN with one VNI per network).
 * Each project gets a network named "default" carved from the cluster pool; instances join it
 * unless their spec names another. The platform fills the status (range, gateway, VNI) from the
 * address manager in the store (src/controllers/network/ipam.ts).
 *
 * The IPv4 and port-range parsers live here because the kind validates with them;
 * model/cidr.ts re-exports them with the range arithmetic.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineKind, type StoredObject } from '../kind.js';
import { DnsLabel, StringEnum, Strict } from '../schema.js';
import type { FieldProblem } from '../errors.js';
import { age } from '../format.js';

export interface Cidr {
  /** Network address as an unsigned 32-bit integer. */
  base: number;
  prefix: number;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

const OCTET = /^(0|[1-9]\d{0,2})$/;

/** "10.240.0.1" → 0x0af00001; undefined when it is not a dotted-quad IPv4 address. */
export function parseIp(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!OCTET.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Netmask of a prefix length as an unsigned integer: 24 → 0xffffff00. */
export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Number of addresses in a prefix: 24 → 256. */
export function sizeOf(prefix: number): number {
  return 2 ** (32 - prefix);
}

/**
 * Parses "10.240.0.0/24". Refuses host bits ("10.240.0.5/24 has host bits set; did you mean
 * 10.240.0.0/24?") and prefixes outside [minPrefix, maxPrefix].
 */
export function parseCidr(text: string, opts: { minPrefix?: number; maxPrefix?: number } = {}): Parsed<Cidr> {
  const slash = text.indexOf('/');
  if (slash < 0) return { ok: false, problem: `${JSON.stringify(text)} is not a CIDR (use e.g. "10.240.0.0/24")` };
  const ip = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (ip === undefined || !/^\d{1,2}$/.test(prefixText) || Number(prefixText) > 32) {
    return { ok: false, problem: `${JSON.stringify(text)} is not a CIDR (use e.g. "10.240.0.0/24")` };
  }
  const prefix = Number(prefixText);
  const base = (ip & maskOf(prefix)) >>> 0;
  if (base !== ip) {
    return { ok: false, problem: `${JSON.stringify(text)} has host bits set; did you mean "${formatIp(base)}/${prefix}"?` };
  }
  const min = opts.minPrefix ?? 0;
  const max = opts.maxPrefix ?? 32;
  if (prefix < min || prefix > max) {
    return { ok: false, problem: `${JSON.stringify(text)} has prefix /${prefix}; use a prefix between /${min} and /${max}` };
  }
  return { ok: true, value: { base, prefix } };
}


/** An inclusive port range; a single port has from === to. */
export interface PortRange {
  from: number;
  to: number;
}

/** Parses "80" or "8000-8100" (1..65535, from <= to). */
export function parsePortRange(text: string): Parsed<PortRange> {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!m) return { ok: false, problem: `${JSON.stringify(text)} is not a port or port range (use e.g. "80" or "8000-8100")` };
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  for (const p of [from, to]) {
    if (p < 1 || p > 65535) return { ok: false, problem: `${JSON.stringify(text)}: port ${p} is outside 1-65535` };
  }
  if (from > to) return { ok: false, problem: `${JSON.stringify(text)}: the range is reversed; write "${to}-${from}"` };
  return { ok: true, value: { from, to } };
}


/** Smallest and largest networks a user may ask for. */
export const NETWORK_MIN_PREFIX = 16;
export const NETWORK_MAX_PREFIX = 28;
/**
 * The address pool networks without a cidr are carved from (the control plane's IPAM), and what
 * nodes treat as the cluster's own addresses until told otherwise.
 */
export const DEFAULT_POOL = '10.240.0.0/12';
/** The network every project gets, and instances join when their spec names none. */
export const DEFAULT_NETWORK = 'default';

/** The network an instance joins: its spec's, or the project's default. */
export function instanceNetwork(spec: { network?: string }): string {
  return spec.network ?? DEFAULT_NETWORK;
}

export const NetworkSpecSchema = Type.Object(
  {
    cidr: Type.Optional(Type.String({
      maxLength: 18,
      description: `IPv4 range such as "10.50.0.0/24" (/${NETWORK_MIN_PREFIX} to /${NETWORK_MAX_PREFIX}). Empty: a /24 from the cluster pool. Must not overlap another network; ranges are claimed in whole /24 blocks.`,
    })),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  Strict,
);

export const NETWORK_PHASES = ['Pending', 'Ready', 'Failed'] as const;

const NodeAttachment = Type.Object(
  {
    node: DnsLabel({ description: 'A node where the network is present.' }),
    address: Type.String({ description: "The node's own address in the network: the source of traffic the node originates (health checks, proxies)." }),
    underlay: Type.Optional(Type.String({ description: "The node's underlay address: the VXLAN tunnel endpoint." })),
  },
  Strict,
);

export const NetworkStatusSchema = Type.Object(
  {
    phase: StringEnum(NETWORK_PHASES),
    message: Type.Optional(Type.String()),
    cidr: Type.Optional(Type.String({ description: 'The allocated range.' })),
    gateway: Type.Optional(Type.String({ description: 'First address of the range; the same on every node. Answers DNS.' })),
    vni: Type.Optional(Type.Integer({ minimum: 1, maximum: 16777215, description: 'VXLAN network identifier.' })),
    nodes: Type.Optional(Type.Array(NodeAttachment, { maxItems: 10000 })),
  },
  Strict,
);

export type NetworkSpec = Static<typeof NetworkSpecSchema>;
export type NetworkStatus = Static<typeof NetworkStatusSchema>;
export type Network = StoredObject<NetworkSpec, NetworkStatus>;

export function normalizeNetworkSpec(spec: NetworkSpec, problems: FieldProblem[]): NetworkSpec {
  if (spec.cidr === undefined || spec.cidr === '') {
    const { cidr: _cidr, ...rest } = spec;
    return rest;
  }
  const r = parseCidr(spec.cidr, { minPrefix: NETWORK_MIN_PREFIX, maxPrefix: NETWORK_MAX_PREFIX });
  if (!r.ok) problems.push({ path: 'spec.cidr', message: r.problem, value: spec.cidr });
  return spec;
}

export const networkKind = defineKind({
  kind: 'network',
  plural: 'networks',
  title: 'Network',
  aliases: ['net'],
  scope: 'project',
  description: "A project's virtual network: an address range, a bridge on each node, VXLAN between nodes.",
  spec: NetworkSpecSchema,
  status: NetworkStatusSchema,
  normalize: (spec, problems) => normalizeNetworkSpec(spec, problems),
  checkUpdate: (prev, next) =>
    (prev.cidr ?? '') === (next.cidr ?? '')
      ? []
      : [{ path: 'spec.cidr', message: 'cannot be changed once the network exists; create a new network and move the instances to it' }],
  initialStatus: () => ({ phase: 'Pending' as const, message: 'waiting for an address range' }),
  access: { node: { hosted: 'whole' } },
  lifecycle: { madeForProjects: true },
  admission: ['network-not-in-use'],
  stack: { section: 'networks' },
  columns: [
    { header: 'NAME', get: (o) => o.metadata.name },
    { header: 'CIDR', get: (o) => (o as Network).status?.cidr ?? (o as Network).spec.cidr ?? '(pool)' },
    { header: 'GATEWAY', get: (o) => (o as Network).status?.gateway ?? '' },
    { header: 'PHASE', get: (o) => (o as Network).status?.phase ?? '' },
    { header: 'AGE', get: (o) => age(o.metadata.createdAt) },
    { header: 'VNI', get: (o) => String((o as Network).status?.vni ?? ''), wide: true },
    { header: 'NODES', get: (o) => String((o as Network).status?.nodes?.length ?? 0), wide: true },
  ],
});
