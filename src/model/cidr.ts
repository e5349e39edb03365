/**
 * IPv4 address and CIDR arithmetic, and port ranges. Pure; no I/O.
 *
 * Shared by the control plane (IPAM) and the node dataplane. Addresses are unsigned 32-bit
 * integers internally, strings at every boundary. The parsers live with the network kind
 * (model/kinds/network.ts validates with them); they return a problem (a sentence a person can
 * act on) instead of throwing.
 * `parseCidrOrThrow` is for trusted input.
 */

import { formatIp, maskOf, parseCidr, parseIp, sizeOf, type Cidr, type PortRange } from './kinds/network.js';

export { formatIp, maskOf, parseCidr, parseIp, parsePortRange, sizeOf, type Cidr, type Parsed, type PortRange } from './kinds/network.js';

export function parseCidrOrThrow(text: string): Cidr {
  const r = parseCidr(text);
  if (!r.ok) throw new Error(r.problem);
  return r.value;
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.prefix}`;
}

/** Last address of the range (the broadcast address for prefixes below /31). */
export function lastOf(c: Cidr): number {
  return (c.base + sizeOf(c.prefix) - 1) >>> 0;
}

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & maskOf(c.prefix)) >>> 0) === c.base;
}

/** Whether `inner` lies entirely within `outer`. */
export function covers(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && contains(outer, inner.base);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return covers(a, b) || covers(b, a);
}

/** The i-th address of the range (0 = network address). */
export function nth(c: Cidr, i: number): number {
  return (c.base + i) >>> 0;
}

/** The gateway of a network: its first host address (.1 of a /24). */
export function gatewayOf(c: Cidr): number {
  return nth(c, 1);
}

/**
 * Host addresses an allocator may hand out: everything but the network address, the gateway
 * and the broadcast address. Count for a /24: 253.
 */
export function assignableCount(c: Cidr): number {
  return Math.max(0, sizeOf(c.prefix) - 3);
}

/** The i-th assignable address (0-based): .2, .3, ... of a /24. */
export function assignable(c: Cidr, i: number): number {
  return nth(c, i + 2);
}

/**
 * The blocks of size /blockPrefix that `c` touches: a /22 touches four /24s, a /26 touches one
 * (its containing /24). Used to claim address space in fixed-size units.
 */
export function blocksOf(c: Cidr, blockPrefix: number): Cidr[] {
  if (c.prefix >= blockPrefix) return [{ base: (c.base & maskOf(blockPrefix)) >>> 0, prefix: blockPrefix }];
  const count = 2 ** (blockPrefix - c.prefix);
  const step = sizeOf(blockPrefix);
  return Array.from({ length: count }, (_, i) => ({ base: (c.base + i * step) >>> 0, prefix: blockPrefix }));
}

/** Number of /blockPrefix blocks in `pool`. */
export function blockCount(pool: Cidr, blockPrefix: number): number {
  return 2 ** (blockPrefix - pool.prefix);
}

export function blockAt(pool: Cidr, blockPrefix: number, i: number): Cidr {
  return { base: (pool.base + i * sizeOf(blockPrefix)) >>> 0, prefix: blockPrefix };
}

export function formatPortRange(r: PortRange): string {
  return r.from === r.to ? String(r.from) : `${r.from}-${r.to}`;
}

export function rangesOverlap(a: PortRange, b: PortRange): boolean {
  return a.from <= b.to && b.from <= a.to;
}

/**
 * Addresses and CIDRs as an nftables interval set accepts them: deduplicated, none covered by
 * another ("10.0.0.5" inside "10.0.0.0/24" goes), sorted. Single addresses stay without "/32".
 */
export function coalesce(items: readonly string[]): string[] {
  const parsed = items.map((s) => (s.includes('/') ? parseCidrOrThrow(s) : { base: parseIpOrThrow(s), prefix: 32 }));
  parsed.sort((a, b) => a.prefix - b.prefix || a.base - b.base);
  const kept: Cidr[] = [];
  for (const c of parsed) if (!kept.some((k) => covers(k, c))) kept.push(c);
  kept.sort((a, b) => a.base - b.base || a.prefix - b.prefix);
  return kept.map((c) => (c.prefix === 32 ? formatIp(c.base) : formatCidr(c)));
}

export function parseIpOrThrow(text: string): number {
  const n = parseIp(text);
  if (n === undefined) throw new Error(`${JSON.stringify(text)} is not an IPv4 address`);
  return n;
}
