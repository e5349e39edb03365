/**
 * IP address management in the store (control-plane side). Every grant is a key (model/keyspace.ts
 * `ipamKeys`) created with the
 * store's `create` operation, which fails when the key exists: two allocators racing for the same
 * range, VNI or address cannot both win, whichever backend or server they run on.
 *
 *   /internal/ipam/networks/<project>/<network>            the network's allocation (JSON)
 *   /internal/ipam/blocks/<a.b.c.0>                        a claimed /24 of address space
 *   /internal/ipam/vnis/<vni>                              a claimed VXLAN id
 *   /internal/ipam/addresses/<project>/<network>/<ip>      a granted address → its owner
 *   /internal/ipam/owners/<project>/<network>/<kind>/<name> the owner's address (idempotency)
 *
 * Address space is claimed in whole blocks (/24 by default), so overlap detection is a key
 * collision: a /22 claims four blocks, a /26 its containing block. Networks from the pool get one
 * block. Addresses of a network: .1 is the gateway (the same on every node); instances, services'
 * virtual addresses and each node's own address are granted from .2 up to the last but one.
 */
import { TxnConflict, type Backend, type TxnOp } from '../../store/backend.js';
import { Records } from '../../store/records.js';
import { ipamKeys as keys, type Key } from '../../model/keyspace.js';
import { ValidationError } from '../../model/errors.js';
import {
  assignable, assignableCount, blockAt, blockCount, blocksOf, contains, formatCidr, formatIp, gatewayOf,
  overlaps, parseCidr, parseCidrOrThrow, parseIp, type Cidr,
} from '../../model/cidr.js';
import { DEFAULT_POOL, NETWORK_MAX_PREFIX, NETWORK_MIN_PREFIX } from '../../model/kinds/network.js';

export const BLOCK_PREFIX = 24;
const VNI_MAX = 16_777_215;
/** Point lookups an address allocation tries before scanning the network's grants. */
const PROBES = 8;
/** Probes spread out (a prime), so that a run of taken neighbours does not exhaust them. */
const PROBE_STRIDE = 7919;

export interface IpamOptions {
  /** Where networks without a cidr come from. Default 10.240.0.0/12. */
  pool?: string;
  /** Size of a network carved from the pool, and the unit of claims. Default 24. */
  blockPrefix?: number;
  /** Uniform in [0, 1); picks where searches start, so concurrent allocators rarely collide. Inject a seeded one in tests. */
  random?: () => number;
  /** Collisions tolerated per allocation before giving up (each costs one transaction). Default 64. */
  maxAttempts?: number;
}

export interface NetworkAllocation {
  project: string;
  network: string;
  cidr: string;
  gateway: string;
  vni: number;
  /** Claimed blocks (their base addresses). */
  blocks: string[];
}

export type OwnerKind = 'instance' | 'service' | 'node';

/** Who holds an address: an instance, a service's virtual address, or a node's own address in the network. */
export interface Owner {
  kind: OwnerKind;
  name: string;
  /** Incarnation; an owner key held by another uid is stale and is replaced. */
  uid?: string;
}

export interface Lease {
  ip: string;
  owner: Owner;
}

/** No free range, VNI or address is left. */
export class AddressSpaceExhausted extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AddressSpaceExhausted';
  }
}

const enc = (v: unknown) => JSON.stringify(v);

export class Ipam {
  private readonly pool: Cidr;
  private readonly blockPrefix: number;
  private readonly random: () => number;
  private readonly maxAttempts: number;
  private readonly records: Records;

  constructor(backend: Backend, options: IpamOptions = {}) {
    this.records = new Records(backend);
    this.pool = parseCidrOrThrow(options.pool ?? DEFAULT_POOL);
    this.blockPrefix = options.blockPrefix ?? BLOCK_PREFIX;
    if (this.blockPrefix < this.pool.prefix) throw new Error(`the pool ${formatCidr(this.pool)} is smaller than one /${this.blockPrefix} block`);
    this.random = options.random ?? Math.random;
    this.maxAttempts = options.maxAttempts ?? 64;
  }

  async getNetwork(project: string, network: string): Promise<NetworkAllocation | undefined> {
    return this.records.json<NetworkAllocation>(keys.network(project, network));
  }

  /** Every network that holds an allocation (to release those whose network is gone). */
  async allocations(): Promise<NetworkAllocation[]> {
    return (await this.records.range(keys.networks)).items.map((kv) => JSON.parse(kv.value) as NetworkAllocation);
  }

  /**
   * Claims a range (the requested `cidr`, or a free block of the pool) and a VNI for the network.
   * Idempotent: a network that has an allocation gets it back. Throws ValidationError (on
   * spec.cidr) when the requested range overlaps another network, AddressSpaceExhausted when the
   * pool or the VNI space is full.
   */
  async allocateNetwork(project: string, network: string, cidr?: string): Promise<NetworkAllocation> {
    const requested = cidr ? this.parseRequested(cidr) : undefined;
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const existing = await this.getNetwork(project, network);
      if (existing) return this.sameRange(existing, requested);
      const range = requested ?? (await this.freeBlock());
      const vni = await this.freeVni(project, network, attempt);
      const alloc: NetworkAllocation = {
        project, network, cidr: formatCidr(range), gateway: formatIp(gatewayOf(range)), vni,
        blocks: blocksOf(range, this.blockPrefix).map((b) => formatIp(b.base)),
      };
      const owner = enc({ project, network });
      const ops: TxnOp[] = [
        { op: 'create', key: keys.network(project, network), value: enc(alloc) },
        { op: 'create', key: keys.vni(vni), value: owner },
        ...alloc.blocks.map((b): TxnOp => ({ op: 'create', key: keys.block(b), value: owner })),
      ];
      try {
        await this.records.txn(ops);
        return alloc;
      } catch (e) {
        if (!(e instanceof TxnConflict) || e.failure !== 'exists') throw e;
        if (requested && e.key.startsWith(keys.blocks)) await this.throwOverlap(requested, keys.blockOf(e.key));
        // another allocator took the record, the block or the VNI first: look again
      }
    }
    throw new AddressSpaceExhausted(`could not allocate a range for network ${project}/${network} after ${this.maxAttempts} attempts (pool ${formatCidr(this.pool)} nearly full?)`);
  }

  /** Releases the network's range, VNI and every address granted in it. Idempotent. */
  async releaseNetwork(project: string, network: string): Promise<void> {
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const rec = await this.records.get(keys.network(project, network));
      const scoped = [keys.addresses(project, network), keys.owners(project, network)];
      const held = (await Promise.all(scoped.map((p) => this.records.range(p)))).flatMap((r) => r.items);
      const ops: TxnOp[] = held.map((kv) => ({ op: 'delete', key: kv.key, expectRevision: kv.modRevision }));
      if (rec) {
        const alloc = JSON.parse(rec.value) as NetworkAllocation;
        ops.push({ op: 'delete', key: rec.key, expectRevision: rec.modRevision });
        ops.push({ op: 'delete', key: keys.vni(alloc.vni) });
        for (const b of alloc.blocks) ops.push({ op: 'delete', key: keys.block(b) });
      }
      if (ops.length === 0) return;
      try {
        await this.records.txn(ops);
        return;
      } catch (e) {
        if (!(e instanceof TxnConflict)) throw e;
      }
    }
    throw new Error(`could not release network ${project}/${network}: it kept changing`);
  }

  /**
   * Grants `owner` an address in the network (which must be allocated). Idempotent: the same
   * owner (and uid) gets the same address back. Throws AddressSpaceExhausted when the network is full.
   */
  async allocateAddress(project: string, network: string, owner: Owner): Promise<string> {
    const alloc = await this.getNetwork(project, network);
    if (!alloc) throw new Error(`network ${project}/${network} has no address range yet; allocate the network first`);
    const range = parseCidrOrThrow(alloc.cidr);
    const ownerKey = this.ownerKey(project, network, owner);
    const total = assignableCount(range);
    let cursor = Math.floor(this.random() * total);
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const held = await this.records.get(ownerKey);
      if (held) {
        const lease = JSON.parse(held.value) as { ip: string; uid?: string };
        if (owner.uid === undefined || lease.uid === owner.uid) return lease.ip;
        await this.releaseAddress(project, network, { ...owner, uid: lease.uid }); // a former incarnation's address
        continue;
      }
      const ip = await this.probeFree(project, network, range, cursor, total);
      if (ip === undefined) throw new AddressSpaceExhausted(`network ${project}/${network} (${alloc.cidr}) has no free address left (${total} in use)`);
      cursor = parseIp(ip)! - range.base - 2 + 1;
      try {
        await this.records.txn([
          { op: 'create', key: keys.address(project, network, ip), value: enc(owner) },
          { op: 'create', key: ownerKey, value: enc({ ip, ...(owner.uid !== undefined ? { uid: owner.uid } : {}) }) },
        ]);
        return ip;
      } catch (e) {
        if (!(e instanceof TxnConflict) || e.failure !== 'exists') throw e;
      }
    }
    throw new AddressSpaceExhausted(`could not allocate an address in ${project}/${network} after ${this.maxAttempts} attempts`);
  }

  /** Returns the owner's address to the network; the address it held, or undefined. Idempotent. */
  async releaseAddress(project: string, network: string, owner: Owner): Promise<string | undefined> {
    const ownerKey = this.ownerKey(project, network, owner);
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const held = await this.records.get(ownerKey);
      if (!held) return undefined;
      const lease = JSON.parse(held.value) as { ip: string; uid?: string };
      if (owner.uid !== undefined && lease.uid !== undefined && lease.uid !== owner.uid) return undefined; // a newer incarnation's
      const addrKey = keys.address(project, network, lease.ip);
      const addr = await this.records.get(addrKey);
      const ops: TxnOp[] = [{ op: 'delete', key: ownerKey, expectRevision: held.modRevision }];
      if (addr) ops.push({ op: 'delete', key: addrKey, expectRevision: addr.modRevision });
      try {
        await this.records.txn(ops);
        return lease.ip;
      } catch (e) {
        if (!(e instanceof TxnConflict)) throw e;
      }
    }
    throw new Error(`could not release the address of ${owner.kind} ${owner.name} in ${project}/${network}: it kept changing`);
  }

  async listAddresses(project: string, network: string): Promise<Lease[]> {
    const r = await this.records.range(keys.addresses(project, network));
    return r.items.map((kv) => ({ ip: keys.last(kv.key), owner: JSON.parse(kv.value) as Owner }));
  }

  /**
   * Releases every address of the network whose owner `alive` says is gone (level-triggered
   * clean-up for deletes that were missed). Returns the released leases.
   */
  async releaseOrphans(project: string, network: string, alive: (owner: Owner) => boolean): Promise<Lease[]> {
    const out: Lease[] = [];
    for (const lease of await this.listAddresses(project, network)) {
      if (alive(lease.owner)) continue;
      if (await this.releaseAddress(project, network, lease.owner)) out.push(lease);
    }
    return out;
  }

  private ownerKey(project: string, network: string, owner: Owner): Key {
    return keys.owner(project, network, owner.kind, owner.name);
  }

  private parseRequested(cidr: string): Cidr {
    const r = parseCidr(cidr, { minPrefix: NETWORK_MIN_PREFIX, maxPrefix: NETWORK_MAX_PREFIX });
    if (!r.ok) throw new ValidationError([{ path: 'spec.cidr', message: r.problem, value: cidr }]);
    return r.value;
  }

  private sameRange(existing: NetworkAllocation, requested: Cidr | undefined): NetworkAllocation {
    if (requested && existing.cidr !== formatCidr(requested)) {
      throw new ValidationError([{ path: 'spec.cidr', message: `the network already has ${existing.cidr}; a range cannot change`, value: formatCidr(requested) }]);
    }
    return existing;
  }

  private async throwOverlap(requested: Cidr, block: string): Promise<never> {
    const holder = await this.records.json<{ project: string; network: string }>(keys.block(block));
    const other = holder ? await this.getNetwork(holder.project, holder.network) : undefined;
    const what = other ? `network "${other.network}" of project "${other.project}" (${other.cidr})` : 'another network';
    const truly = other === undefined || overlaps(requested, parseCidrOrThrow(other.cidr));
    const unit = truly ? '' : `: ranges are claimed in whole /${this.blockPrefix} blocks, so they may not share one`;
    throw new ValidationError([{ path: 'spec.cidr', message: `${formatCidr(requested)} overlaps ${what}${unit}`, value: formatCidr(requested) }]);
  }

  /** A block of the pool that no network holds, from a random starting point. */
  private async freeBlock(): Promise<Cidr> {
    const claimed = new Set((await this.records.range(keys.blocks)).items.map((kv) => keys.blockOf(kv.key)));
    const count = blockCount(this.pool, this.blockPrefix);
    const start = Math.floor(this.random() * count);
    for (let i = 0; i < count; i++) {
      const b = blockAt(this.pool, this.blockPrefix, (start + i) % count);
      if (!claimed.has(formatIp(b.base))) return b;
    }
    throw new AddressSpaceExhausted(`the network pool ${formatCidr(this.pool)} is full: all ${count} /${this.blockPrefix} blocks are taken (free some networks or configure a larger pool)`);
  }

  /** A VNI derived from the name (stable across re-creation), probing forward past taken ones. */
  private async freeVni(project: string, network: string, skip: number): Promise<number> {
    let v = (fnv1a(`${project}/${network}`) % (VNI_MAX - 1)) + 1;
    let skipped = 0;
    for (let i = 0; i < 4096; i++, v = (v % VNI_MAX) + 1) {
      if (await this.records.get(keys.vni(v))) continue;
      if (skipped++ < skip) continue; // after a collision, try the next free one
      return v;
    }
    throw new AddressSpaceExhausted('no free VXLAN network identifier found near this network\'s hash');
  }

  /**
   * A free address from `cursor` on: a few point lookups first (cheap while the network is not
   * nearly full, whatever its size), then one scan of every granted address.
   */
  private async probeFree(project: string, network: string, range: Cidr, cursor: number, total: number): Promise<string | undefined> {
    for (let i = 0; i < Math.min(PROBES, total); i++) {
      const ip = formatIp(assignable(range, (cursor + i * PROBE_STRIDE) % total));
      if (!(await this.records.get(keys.address(project, network, ip)))) return ip;
    }
    const used = new Set((await this.records.range(keys.addresses(project, network))).items.map((kv) => keys.last(kv.key)));
    return this.nextFree(range, used, cursor, total);
  }

  private nextFree(range: Cidr, used: Set<string>, cursor: number, total: number): string | undefined {
    for (let i = 0; i < total; i++) {
      const ip = formatIp(assignable(range, (cursor + i) % total));
      if (!used.has(ip)) return ip;
    }
    return undefined;
  }
}

/** 32-bit FNV-1a: a stable, well-spread hash of a short string. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Whether `ip` may be granted in `cidr`: inside, and neither network, gateway nor broadcast address. */
export function isAssignable(cidr: string, ip: string): boolean {
  const c = parseCidrOrThrow(cidr);
  const n = parseIp(ip);
  if (n === undefined || !contains(c, n)) return false;
  const i = n - c.base;
  return i >= 2 && i < 2 + assignableCount(c);
}
