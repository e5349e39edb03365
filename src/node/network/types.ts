/** The dataplane's vocabulary: what the agent passes to Dataplane / NodeNetworking and gets back. */
import type { NamingOptions } from './names.js';
import type { Runner } from './exec.js';
import type { FwServicePort } from './firewall.js';
import type { IngressPolicy } from './policy.js';

export interface DataplaneOptions extends NamingOptions {
  /** This node's name; seeds the bridges' MAC addresses. */
  node: string;
  /** The VXLAN tunnel endpoint: this node's address on the network between nodes. Absent: single node, no VXLAN. */
  underlay?: { ip: string; dev?: string };
  /** MTU of bridges, VXLAN devices and instance interfaces. Default 1450 (1500 minus VXLAN's 50). */
  mtu?: number;
  vxlanPort?: number;
  /** Every range instances may have, cluster-wide (the pool plus networks with their own cidr). Default: the default pool. */
  cluster?: string[];
  runner?: Runner;
  /** Where `ip netns` keeps namespaces. Default /run/netns. */
  netnsDir?: string;
  /** resolv.conf for `ip netns exec <ns>` goes to <etcNetnsDir>/<ns>/. Default /etc/netns; null: none. */
  etcNetnsDir?: string | null;
  /** Sets a sysctl of this namespace. Default: writes /proc/sys. */
  sysctl?: (key: string, value: string) => Promise<void>;
}

export interface NetworkPeer {
  /** The other node's underlay address (VXLAN endpoint). */
  underlay: string;
  /** The other node's own address in this network. */
  address: string;
}

/** A network as this node needs it: from the network's status and the node's own address in it. */
export interface NetworkConfig {
  project: string;
  name: string;
  vni: number;
  cidr: string;
  gateway: string;
  /** This node's own address in the network (IPAM owner kind "node"). */
  nodeAddress: string;
  /** The other nodes where the network is present. */
  peers?: NetworkPeer[];
  /** DNS search domains written to the namespaces' resolv.conf. */
  search?: string[];
}

export interface InstanceConfig {
  /** Unique and stable for the instance on this node: its uid. Names the namespace and veth. */
  id: string;
  project: string;
  name: string;
  vni: number;
  ip: string;
  ingress?: IngressPolicy;
  /**
   * A VM: its NIC is a tap device on the bridge instead of a namespace and veth; the guest sets its
   * own address. With `uid`/`gid` the tap is owned by them (a QEMU that runs unprivileged from the
   * start); without, only root opens it (a QEMU that opens it as root and then drops privileges).
   */
  tap?: { uid?: number; gid?: number };
}

export interface AttachedInstance {
  id: string;
  /** Path for `Task.netns`. */
  netns: string;
  netnsName: string;
  ip: string;
  prefixlen: number;
  gateway: string;
  mtu: number;
  /** The bridge port: the veth's host end or the tap. */
  hostLink: string;
  dns: { nameserver: string; search: string[] };
}

/** A VM attached through a tap: no namespace; the guest configures the address, gateway, MTU and DNS given here. */
export interface AttachedTap extends Omit<AttachedInstance, 'netns' | 'netnsName'> {
  /** For `Task.tap`: the tap device and the MAC its NIC must have. */
  tap: { name: string; mac: string };
}

/** An instance attached through a tap (a VM). */
export type TapInstanceConfig = InstanceConfig & { tap: NonNullable<InstanceConfig['tap']> };

export type LbAlgorithm = 'round-robin' | 'least-connections';

/** A service address on this node. Backends listed here take new connections; leaving one out drains it. */
export interface ServiceConfig {
  key: string;
  vni: number;
  vip: string;
  algorithm: LbAlgorithm;
  ports: FwServicePort[];
  backends: string[];
}

export interface Owned {
  netns: string[];
  links: string[];
  tables: string[];
}

