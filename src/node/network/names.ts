/**
 * Names of everything the dataplane creates on a node, all with recognizable prefixes so that
 * `cleanupLeftovers` can find what is ours and nothing else:
 *
 *   <link>b<vni hex>     bridge of a network              e.g. stb1a2b3c   (Linux allows 15 characters)
 *   <link>x<vni hex>     VXLAN device of a network        e.g. stx1a2b3c
 *   <link>v<12 hex>      host end of an instance's veth   e.g. stv3f09a1c2b4d5
 *   <link>t<12 hex>      a VM's tap device                e.g. stt3f09a1c2b4d5
 *   <netns><12 hex>      an instance's network namespace  e.g. stratus-3f09a1c2b4d5 (/run/netns/...)
 *   table ip <table>, table bridge <table>                the nftables rules (default "stratus")
 *
 * The 12 hex digits are a hash of the instance id the agent gives (its uid), so the names of a
 * known instance can be recomputed after a restart without any local state.
 */
import { createHash } from 'node:crypto';

export interface NamingOptions {
  /** Prefix of interface names; at most 4 characters. Default "st". */
  linkPrefix?: string;
  /** Prefix of network namespace names. Default "stratus-". Give each simulated host its own in tests. */
  netnsPrefix?: string;
  /** Name of the nftables tables (family ip and bridge). Default "stratus". */
  table?: string;
}

export class Naming {
  readonly link: string;
  readonly netnsPrefix: string;
  readonly table: string;

  constructor(options: NamingOptions = {}) {
    this.link = options.linkPrefix ?? 'st';
    this.netnsPrefix = options.netnsPrefix ?? 'stratus-';
    this.table = options.table ?? 'stratus';
    if (!/^[a-z][a-z0-9]{0,3}$/.test(this.link)) throw new Error(`link prefix ${JSON.stringify(this.link)} must be 1-4 lowercase letters or digits, starting with a letter`);
    if (!/^[a-z][a-z0-9-]{0,31}$/.test(this.netnsPrefix)) throw new Error(`netns prefix ${JSON.stringify(this.netnsPrefix)} must be lowercase letters, digits and "-"`);
    if (!/^[a-z][a-z0-9_-]{0,31}$/.test(this.table)) throw new Error(`table name ${JSON.stringify(this.table)} is not a simple name`);
  }

  bridge(vni: number): string {
    return `${this.link}b${vni.toString(16)}`;
  }

  vxlan(vni: number): string {
    return `${this.link}x${vni.toString(16)}`;
  }

  veth(instanceId: string): string {
    return `${this.link}v${shortHash(instanceId)}`;
  }

  /** A VM's tap device (its NIC's host end, a port of the bridge like a veth). */
  tap(instanceId: string): string {
    return `${this.link}t${shortHash(instanceId)}`;
  }

  netns(instanceId: string): string {
    return `${this.netnsPrefix}${shortHash(instanceId)}`;
  }

  /** The VNI a bridge or VXLAN name of ours encodes, or undefined when the name is not ours. */
  vniOf(link: string, kind: 'b' | 'x'): number | undefined {
    const m = new RegExp(`^${this.link}${kind}([0-9a-f]{1,6})$`).exec(link);
    return m ? parseInt(m[1]!, 16) : undefined;
  }

  isVeth(link: string): boolean {
    return new RegExp(`^${this.link}v[0-9a-f]{12}$`).test(link);
  }

  isTap(link: string): boolean {
    return new RegExp(`^${this.link}t[0-9a-f]{12}$`).test(link);
  }

  /** Wildcards matching every instance link of ours (veths and taps), for the firewall. */
  instanceLinks(): string[] {
    return [`${this.link}v*`, `${this.link}t*`];
  }

  isNetns(name: string): boolean {
    return name.startsWith(this.netnsPrefix) && /^[0-9a-f]{12}$/.test(name.slice(this.netnsPrefix.length));
  }
}

/** 12 hex digits (48 bits) of SHA-256: collisions need ~16 million instances on one node. */
export function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 12);
}

/**
 * A stable, locally administered unicast MAC for a node's bridge in a network: the same after a
 * restart, different on every node (the gateway address is shared by all nodes of a network, its
 * MAC is not; see README "Anycast gateway").
 */
export function bridgeMac(node: string, vni: number): string {
  const h = createHash('sha256').update(`${node}/${vni}`).digest();
  const bytes = [0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * The MAC address of a VM's NIC: stable for the instance (the same after an agent restart or a
 * stop and start), locally administered and unicast, 40 bits of a hash of its id.
 */
export function guestMac(instanceId: string): string {
  const h = createHash('sha256').update(`guest/${instanceId}`).digest();
  const bytes = [0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
