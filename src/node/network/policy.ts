/**
 * Security groups → the ingress policy of each instance. Pure.
 *
 *   no group selects the instance  → undefined: its own network may reach it, nothing else
 *   one or more groups select it   → exactly the union of their rules (replies and published
 *                                    ports are always let through by the firewall)
 *
 * `from: { group: g }` means: the addresses of the instances of the same project that group g
 * selects. A group that does not exist selects nothing, so such a rule opens nothing.
 */
import { matches, parseSelector, type Labels, type Selector } from '../../model/labels.js';
import type { SecurityGroupSpec, SgProtocol } from '../../model/kinds/security-group.js';
import { parsePortRange, type PortRange } from '../../model/cidr.js';

/** One instance as the policy sees it: where it is and what it is labelled. */
export interface Endpoint {
  project: string;
  name: string;
  ip: string;
  labels?: Labels;
}

export interface GroupInfo {
  project: string;
  name: string;
  spec: SecurityGroupSpec;
}

export interface IngressRule {
  protocol: SgProtocol;
  /** Absent: all ports (and always absent for icmp). */
  ports?: PortRange;
  /** 'any', or CIDRs / addresses. An empty list matches nothing. */
  sources: 'any' | string[];
}

export interface IngressPolicy {
  /** The groups that produced the rules, for a person reading `describe`. */
  groups: string[];
  rules: IngressRule[];
}

interface CompiledGroup {
  info: GroupInfo;
  selector: Selector;
}

/** Resolves security groups once, then answers per instance. */
export class PolicyResolver {
  private readonly groups: CompiledGroup[];
  private readonly members = new Map<string, string[]>();

  constructor(
    private readonly endpoints: readonly Endpoint[],
    groups: readonly GroupInfo[],
  ) {
    this.groups = groups.map((info) => ({ info, selector: parseSelector(info.spec.selector ?? '') }));
  }

  /** The groups of its project that select `e`. */
  groupsOf(e: Endpoint): GroupInfo[] {
    return this.groups.filter((g) => g.info.project === e.project && matches(g.selector, e.labels)).map((g) => g.info);
  }

  /** The ingress policy of `e`, or undefined for the default (its own network only). */
  ingressFor(e: Endpoint): IngressPolicy | undefined {
    const groups = this.groupsOf(e);
    if (groups.length === 0) return undefined;
    const rules: IngressRule[] = [];
    for (const g of groups) {
      for (const r of g.spec.ingress) {
        const range = r.protocol !== 'icmp' && r.ports !== undefined ? parsePortRange(r.ports) : undefined;
        const rule: IngressRule = { protocol: r.protocol, sources: this.sourcesOf(g.project, r.from) };
        if (range?.ok) rule.ports = range.value;
        rules.push(rule);
      }
    }
    return { groups: groups.map((g) => g.name).sort(), rules };
  }

  private sourcesOf(project: string, from: { cidr?: string; group?: string } | undefined): 'any' | string[] {
    if (!from) return 'any';
    if (from.cidr !== undefined) return [from.cidr];
    return this.membersOf(project, from.group!);
  }

  /** Addresses of the instances that group `name` of `project` selects. */
  private membersOf(project: string, name: string): string[] {
    const key = `${project}/${name}`;
    let ips = this.members.get(key);
    if (!ips) {
      const g = this.groups.find((x) => x.info.project === project && x.info.name === name);
      ips = g ? this.endpoints.filter((e) => e.project === project && matches(g.selector, e.labels)).map((e) => e.ip).sort() : [];
      this.members.set(key, ips);
    }
    return ips;
  }
}
