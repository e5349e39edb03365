/**
 * The node's nftables rules, rendered from a model. The full text is one `nft -f` transaction
 * that deletes and re-creates our two tables (`ip <table>` and `bridge <table>`): atomic,
 * idempotent, and nothing of ours survives that the model does not name. What changes with
 * instances and service backends lives in named sets, maps and small chains, so that such a
 * change is a short transaction of element and chain commands instead (firewall-update.ts).
 * Connections already established keep their NAT bindings (they live in conntrack, not in the
 * rules), which is what lets a removed load-balancer backend drain. Pure; see README for the
 * packet paths.
 */
import { coalesce } from '../../model/cidr.js';
import type { IngressPolicy, IngressRule } from './policy.js';

/** ct mark bit of connections that came in through a published port; they skip ingress rules. */
export const PUBLISHED_MARK = 0x04000000;

export type L4 = 'tcp' | 'udp';

export interface FwNetwork {
  vni: number;
  bridge: string;
  vxlan?: string;
  cidr: string;
  gateway: string;
  /** Node addresses (every node's own address in this network): the sources of health checks and proxies. */
  trusted: string[];
}

export interface FwInstance {
  id: string;
  ip: string;
  /** The host end of its veth: frames entering there must carry `ip` as their source. */
  link: string;
  /** Undefined: the default (its own network may reach it). */
  ingress?: IngressPolicy;
}

/** A host port forwarded to an instance. */
export interface PublishedPort {
  hostPort: number;
  protocol: L4;
  ip: string;
  port: number;
}

export interface FwServicePort {
  port: number;
  targetPort: number;
  protocol: L4;
  /** Host port forwarded to this service port. */
  publish?: number;
}

export interface FwService {
  key: string;
  vip: string;
  ports: FwServicePort[];
  /** Addresses that take new connections. */
  backends: string[];
  /** Served by a userspace proxy listening on vip:port (least-connections), not by DNAT. */
  userspace: boolean;
}

export interface FirewallModel {
  table: string;
  /** Wildcards matching every instance link of ours (veths and VMs' taps, e.g. "stv*", "stt*"): frames from unknown ones are dropped. */
  instanceLinks: string[];
  /** Every range instances may have, cluster-wide: traffic from a local network to a range not on this node is dropped, not leaked to the underlay. */
  cluster: string[];
  networks: FwNetwork[];
  instances: FwInstance[];
  published: PublishedPort[];
  services: FwService[];
}

const dashed = (ip: string) => ip.replace(/\./g, '-');
const set = (items: readonly string[]) => (items.length === 1 ? items[0]! : `{ ${items.join(', ')} }`);
const quoted = (names: readonly string[]) => set(names.map((n) => `"${n}"`));

export function serviceChain(vip: string, p: { protocol: L4; port: number }): string {
  return `svc-${dashed(vip)}-${p.protocol}-${p.port}`;
}

/**
 * The named counter of a kernel-balanced service port: its rule (in the nat chain, which sees only
 * the first packet of each connection) counts one packet per new connection. Chains are flushed
 * when backends change and go when none is left; a named counter stays while the service has an
 * address here, so it counts across scaling and health changes (traffic.ts reads it).
 */
export function serviceCounter(vip: string, p: { protocol: L4; port: number }): string {
  return `conn-${dashed(vip)}-${p.protocol}-${p.port}`;
}

export function ingressChain(ip: string): string {
  return `in-${dashed(ip)}`;
}

/** The script that removes our tables (and nothing else). */
export function removalScript(table: string): string {
  return `table ip ${table} {}\ndelete table ip ${table}\ntable bridge ${table} {}\ndelete table bridge ${table}\n`;
}

/**
 * The ruleset in the parts an update compares. Named sets and maps that are not intervals, and
 * the per-service-port and per-instance chains, are "dynamic": they change by `add element`,
 * `delete element` and chain commands (firewall-update.ts) while the rest, the skeleton, stays.
 */
export interface RenderedRules {
  /** The whole transaction: removal of our tables, then the new ones with every element and chain. */
  full: string;
  /** The tables without the dynamic parts. Equal skeletons: the update can go by elements and chains. */
  skeleton: string;
  /** Elements of the dynamic sets and maps, by "<family> <name>" (map elements are "key : value"). */
  sets: Map<string, string[]>;
  /** Rules of the dynamic chains (all in the ip table), by name. */
  chains: Map<string, string[]>;
  /** Named counters of the ip table (one per kernel-balanced service port): dynamic too. */
  counters: string[];
}

/** Collects the dynamic parts while rendering; writes them inline only when rendering the full text. */
class Tables {
  readonly sets = new Map<string, string[]>();
  readonly chains = new Map<string, string[]>();
  readonly counters: string[] = [];
  constructor(readonly inline: boolean) {}

  /** A named counter of the ip table. */
  counter(name: string): string[] {
    this.counters.push(name);
    return this.inline ? [`  counter ${name} {`, '  }'] : [];
  }

  /** A named set or map: its elements are dynamic unless it holds intervals (those stay in the skeleton). */
  set(family: 'ip' | 'bridge', name: string, type: string, elements: readonly string[], interval = false): string[] {
    if (!interval) this.sets.set(`${family} ${name}`, [...elements]);
    const inline = interval || this.inline;
    return [`  ${type.includes(': ') ? 'map' : 'set'} ${name} {`, `    type ${type}${interval ? '; flags interval' : ''}`, ...(inline && elements.length ? [`    elements = { ${elements.join(', ')} }`] : []), '  }'];
  }

  /** A dynamic chain of the ip table. */
  chain(name: string, rules: string[]): string[] {
    this.chains.set(name, rules);
    return this.inline ? [`  chain ${name} {`, ...rules.map((r) => `    ${r}`), '  }'] : [];
  }
}

/** The whole ruleset as one text: removal of the previous tables, then the new ones. */
export function renderRuleset(m: FirewallModel): string {
  return render(m).full;
}

export function render(m: FirewallModel): RenderedRules {
  const full = new Tables(true);
  const skeleton = new Tables(false);
  if (m.networks.length === 0 && m.published.length === 0) return { full: removalScript(m.table), skeleton: '', sets: new Map(), chains: new Map(), counters: [] }; // nothing of ours left on this node
  const text = (t: Tables) => `${renderIpTable(m, t)}${renderBridgeTable(m, t)}`;
  const fullText = `${removalScript(m.table)}${text(full)}`;
  return { full: fullText, skeleton: text(skeleton), sets: full.sets, chains: full.chains, counters: full.counters };
}

function renderIpTable(m: FirewallModel, t: Tables): string {
  const nets = m.networks.map((n) => n.cidr);
  const kernel = m.services.filter((s) => !s.userspace && s.backends.length > 0);
  const lines: string[] = [`table ip ${m.table} {`];
  lines.push(...t.set('ip', 'cluster', 'ipv4_addr', coalesce([...m.cluster, ...nets]), true));
  lines.push(...t.set('ip', 'nets', 'ipv4_addr', coalesce(nets), true));
  lines.push(...t.set('ip', 'anycast', 'ipv4_addr', anycastOf(m)));
  lines.push(...t.set('ip', 'trusted', 'ipv4_addr', [...new Set(m.networks.flatMap((n) => n.trusted))]));
  lines.push(...t.set('ip', 'locals', 'ipv4_addr', m.instances.map((i) => i.ip)));
  // an instance reaching itself through a service address: the reply must come back through the host
  lines.push(...t.set('ip', 'hairpin', 'ipv4_addr . ipv4_addr', m.instances.map((i) => `${i.ip} . ${i.ip}`)));
  const proxied = m.services.filter((s) => s.userspace).flatMap((s) => s.ports.map((p) => `${s.vip} . ${p.protocol} . ${p.port}`));
  lines.push(...t.set('ip', 'proxied', 'ipv4_addr . inet_proto . inet_service', proxied));
  // a counter per kernel-balanced port, also while it has no backend: it lives as long as the service here
  for (const s of m.services) if (!s.userspace) for (const p of s.ports) lines.push(...t.counter(serviceCounter(s.vip, p)));
  for (const s of kernel) for (const p of s.ports) lines.push(...t.chain(serviceChain(s.vip, p), [serviceRule(s, p)]));
  const entries = kernel.flatMap((s) => s.ports.map((p) => `${s.vip} . ${p.protocol} . ${p.port} : jump ${serviceChain(s.vip, p)}`));
  lines.push(...t.set('ip', 'services', 'ipv4_addr . inet_proto . inet_service : verdict', entries));
  const governed = m.instances.filter((i): i is FwInstance & { ingress: IngressPolicy } => i.ingress !== undefined);
  for (const i of governed) lines.push(...t.chain(ingressChain(i.ip), ingressRules(i.ingress)));
  lines.push(...t.set('ip', 'ingress', 'ipv4_addr : verdict', governed.map((i) => `${i.ip} : jump ${ingressChain(i.ip)}`)));
  lines.push(...natChain('prerouting', 'prerouting', 'dstnat', m), ...natChain('output', 'output', '-100', m));
  lines.push(...postrouting());
  lines.push(...forward(m));
  lines.push(...input(m));
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** Gateways and service addresses: on every node's bridge, answered locally. */
function anycastOf(m: FirewallModel): string[] {
  return [...new Set([...m.networks.map((n) => n.gateway), ...m.services.map((s) => s.vip)])];
}

function serviceRule(s: FwService, p: FwServicePort): string {
  const targets = s.backends.map((b) => `${b} . ${p.targetPort}`);
  const count = `counter name "${serviceCounter(s.vip, p)}"`;
  return s.backends.length === 1
    ? `meta l4proto ${p.protocol} ${count} dnat to ${s.backends[0]}:${p.targetPort}`
    : `meta l4proto ${p.protocol} ${count} dnat to numgen inc mod ${targets.length} map { ${targets.map((x, i) => `${i} : ${x}`).join(', ')} }`;
}

/** DNAT: service addresses (a verdict map: one lookup whatever the number of services), then published host ports. */
function natChain(name: string, hook: string, priority: string, m: FirewallModel): string[] {
  const lines = [`  chain ${name} {`, `    type nat hook ${hook} priority ${priority}; policy accept;`, '    ip daddr . meta l4proto . th dport vmap @services'];
  const mark = `ct mark set ct mark | ${hex(PUBLISHED_MARK)}`;
  const local = 'fib daddr type local ip daddr != @anycast';
  for (const p of m.published) lines.push(`    ${local} ${p.protocol} dport ${p.hostPort} ${mark} dnat to ${p.ip}:${p.port}`);
  for (const s of m.services) {
    for (const p of s.ports) {
      if (p.publish === undefined) continue;
      if (s.userspace) lines.push(`    ${local} ${p.protocol} dport ${p.publish} dnat to ${s.vip}:${p.port}`);
      else if (s.backends.length > 0) lines.push(`    ${local} ${p.protocol} dport ${p.publish} ${mark} jump ${serviceChain(s.vip, p)}`);
    }
  }
  lines.push('  }');
  return lines;
}

function postrouting(): string[] {
  return [
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    '    ct status dnat ip saddr . ip daddr @hairpin masquerade',
    // the node reaching a service address: the source would be that (shared) address; use the node's own
    '    ip saddr @anycast masquerade',
    // a published port forwarded to a backend on another node: its reply must come back through this node;
    // from the node itself to 127.0.0.1:<port> (route_localnet on the bridge): not from a loopback source
    `    ct mark & ${hex(PUBLISHED_MARK)} == ${hex(PUBLISHED_MARK)} ip daddr != @locals masquerade`,
    `    ct mark & ${hex(PUBLISHED_MARK)} == ${hex(PUBLISHED_MARK)} ip saddr 127.0.0.0/8 masquerade`,
    // egress to the outside world
    '    ip saddr @nets ip daddr != @cluster masquerade',
    '  }',
  ];
}

/** Forwarded traffic, routed or bridged (br_netfilter): isolation and security groups, enforced where the destination runs. */
function forward(m: FirewallModel): string[] {
  return [
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    '    ct state established,related accept',
    `    ct mark & ${hex(PUBLISHED_MARK)} == ${hex(PUBLISHED_MARK)} accept`,
    // instances some security group selects: exactly the union of the groups' rules (their chain ends in drop)
    '    ip daddr vmap @ingress',
    ...m.networks.map((n) => `    ip saddr ${n.cidr} ip daddr ${n.cidr} accept`),
    '    ip daddr @nets drop',
    '    ip saddr @nets ip daddr @cluster drop',
    '  }',
  ];
}

function ingressRules(policy: IngressPolicy): string[] {
  const rules = policy.rules.map(ruleLine).filter((l): l is string => l !== undefined);
  return ['ip saddr @trusted accept', ...rules, 'drop'];
}

function ruleLine(r: IngressRule): string | undefined {
  if (r.sources !== 'any' && r.sources.length === 0) return undefined;
  const src = r.sources === 'any' ? '' : `ip saddr ${set(coalesce(r.sources))} `;
  if (r.protocol === 'icmp') return `${src}meta l4proto icmp accept`;
  if (!r.ports) return `${src}meta l4proto ${r.protocol} accept`;
  const ports = r.ports.from === r.ports.to ? String(r.ports.from) : `${r.ports.from}-${r.ports.to}`;
  return `${src}${r.protocol} dport ${ports} accept`;
}

/** Traffic from instances to the node itself: DNS on the gateway, ping, userspace balancers; nothing else. */
function input(m: FirewallModel): string[] {
  if (m.networks.length === 0) return [];
  const gateways = m.networks.map((n) => n.gateway);
  return [
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    `    iifname ${quoted(m.networks.map((n) => n.bridge))} jump from-instances`,
    '  }',
    '  chain from-instances {',
    '    ct state established,related accept',
    `    ip daddr ${set(gateways)} meta l4proto { tcp, udp } th dport 53 accept`,
    '    icmp type echo-request accept',
    '    ip daddr . meta l4proto . th dport @proxied accept',
    // a service address with no backend (or an unknown port): refuse at once rather than let clients time out
    '    ip daddr @anycast meta l4proto tcp reject with tcp reset',
    '    ip daddr @anycast reject',
    '    drop',
    '  }',
  ];
}

/**
 * Layer 2, on every bridge port: an instance may only send from its own address (no spoofing a
 * node address, another instance or another project), no IPv6; and ARP for the shared addresses
 * (gateway, service addresses) stays on the node: each node answers its own instances.
 */
function renderBridgeTable(m: FirewallModel, t: Tables): string {
  const vxlans = m.networks.flatMap((n) => (n.vxlan ? [n.vxlan] : []));
  const ports = `iifname ${quoted(m.instanceLinks)}`;
  const lines = [
    `table bridge ${m.table} {`,
    ...t.set('bridge', 'sources', 'ifname . ipv4_addr', m.instances.map((i) => `"${i.link}" . ${i.ip}`)),
    '  chain prerouting {',
    '    type filter hook prerouting priority -300; policy accept;',
    `    ${ports} ether type ip iifname . ip saddr != @sources drop`,
    `    ${ports} ether type arp iifname . arp saddr ip != @sources drop`,
    `    ${ports} ether type ip6 drop`,
    '  }',
  ];
  if (vxlans.length) {
    const out = quoted(vxlans);
    lines.push(
      ...t.set('bridge', 'anycast', 'ipv4_addr', anycastOf(m)),
      '  chain forward {',
      '    type filter hook forward priority 0; policy accept;',
      `    oifname ${out} arp daddr ip @anycast drop`,
      `    oifname ${out} arp saddr ip @anycast drop`,
      '  }',
      '  chain output {',
      '    type filter hook output priority 0; policy accept;',
      `    oifname ${out} arp saddr ip @anycast drop`,
      '  }',
    );
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
