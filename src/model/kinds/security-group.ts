/**
 * security-group: ingress rules for the instances of a project that its selector matches
 * (no selector: all of them). Enforced by nftables on the node of each instance.
 *
 *   An instance that no group selects accepts traffic from its own network and nothing else.
 *   An instance that one or more groups select accepts exactly what their rules allow (the union),
 *   from any network — this is how one project opens a port to another.
 *   Replies to connections an instance opened, and published ports, are always let through.
 *
 * A rule's source is a CIDR, or the instances another group of the same project selects
 * (`from: { group }`), or anything when `from` is left out.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineKind, type StoredObject } from '../kind.js';
import { DnsLabel, StringEnum, Strict } from '../schema.js';
import { formatSelector, parseSelector, SelectorError } from '../labels.js';
import type { FieldProblem } from '../errors.js';
import { age } from '../format.js';
import { parseCidr, parsePortRange, type PortRange } from './network.js';

export const SG_PROTOCOLS = ['tcp', 'udp', 'icmp'] as const;
export type SgProtocol = (typeof SG_PROTOCOLS)[number];

const Source = Type.Object(
  {
    cidr: Type.Optional(Type.String({ maxLength: 18, description: 'Source addresses, e.g. "10.240.3.0/24" or "0.0.0.0/0".' })),
    group: Type.Optional(DnsLabel({ description: 'Source instances: those another security group of this project selects.' })),
  },
  { ...Strict, description: 'Where traffic may come from: a CIDR or a group (one of the two). Left out: anywhere.' },
);

const IngressRule = Type.Object(
  {
    protocol: StringEnum(SG_PROTOCOLS),
    ports: Type.Optional(Type.String({ maxLength: 11, description: 'A port ("80") or range ("8000-8100"); tcp and udp only. Left out: all ports.' })),
    from: Type.Optional(Source),
  },
  Strict,
);

export const SecurityGroupSpecSchema = Type.Object(
  {
    selector: Type.Optional(Type.String({ maxLength: 1024, description: 'Instances of this project the group applies to, as a label selector such as "app=web". Empty: all of them.' })),
    ingress: Type.Array(IngressRule, { maxItems: 64, description: 'What the selected instances accept. Empty: nothing but replies and published ports.' }),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  Strict,
);

export const SecurityGroupStatusSchema = Type.Object(
  {
    message: Type.Optional(Type.String()),
  },
  Strict,
);

export type SecurityGroupSpec = Static<typeof SecurityGroupSpecSchema>;
export type IngressRuleSpec = Static<typeof IngressRule>;
export type SecurityGroup = StoredObject<SecurityGroupSpec, Static<typeof SecurityGroupStatusSchema>>;

/** The source of a rule as one comparable string: "cidr:10.0.0.0/8", "group:web" or "any". */
function sourceKey(r: IngressRuleSpec): string {
  if (r.from?.cidr !== undefined) return `cidr:${r.from.cidr}`;
  if (r.from?.group !== undefined) return `group:${r.from.group}`;
  return 'any';
}

function describeRule(r: IngressRuleSpec): string {
  const source = r.from?.cidr ?? (r.from?.group !== undefined ? `group ${r.from.group}` : 'anywhere');
  return `${r.protocol}${r.ports ? ` ${r.ports}` : ''} from ${source}`;
}

function checkRule(r: IngressRuleSpec, path: string, problems: FieldProblem[]): PortRange | undefined {
  if (r.from) {
    const { cidr, group } = r.from;
    if (cidr !== undefined && group !== undefined) problems.push({ path: `${path}.from`, message: 'names both a cidr and a group; give one of them (write two rules for both sources)' });
    else if (cidr === undefined && group === undefined) problems.push({ path: `${path}.from`, message: 'is empty; give a cidr or a group, or leave "from" out to allow any source' });
    if (cidr !== undefined) {
      const c = parseCidr(cidr);
      if (!c.ok) problems.push({ path: `${path}.from.cidr`, message: c.problem, value: cidr });
    }
  }
  if (r.protocol === 'icmp') {
    if (r.ports !== undefined) problems.push({ path: `${path}.ports`, message: 'icmp has no ports; leave "ports" out', value: r.ports });
    return { from: 0, to: 0 };
  }
  if (r.ports === undefined) return { from: 1, to: 65535 };
  const p = parsePortRange(r.ports);
  if (!p.ok) {
    problems.push({ path: `${path}.ports`, message: p.problem, value: r.ports });
    return undefined;
  }
  return p.value;
}

export function normalizeSecurityGroupSpec(spec: SecurityGroupSpec, problems: FieldProblem[]): SecurityGroupSpec {
  const out: SecurityGroupSpec = { ...spec };
  if (spec.selector !== undefined) {
    try {
      out.selector = formatSelector(parseSelector(spec.selector));
    } catch (e) {
      problems.push({ path: 'spec.selector', message: e instanceof SelectorError ? e.message : String(e), value: spec.selector });
    }
    if (out.selector === '') delete out.selector;
  }
  const seen: { range: PortRange; key: string; index: number }[] = [];
  spec.ingress.forEach((r, i) => {
    const path = `spec.ingress[${i}]`;
    const range = checkRule(r, path, problems);
    if (!range) return;
    const key = `${r.protocol} ${sourceKey(r)}`;
    const clash = seen.find((s) => s.key === key && s.range.from <= range.to && range.from <= s.range.to);
    if (clash) {
      problems.push({
        path: r.protocol === 'icmp' ? path : `${path}.ports`,
        message: `${describeRule(r)} overlaps ingress[${clash.index}] (${describeRule(spec.ingress[clash.index]!)}); merge them into one rule`,
        value: r.ports,
      });
      return;
    }
    seen.push({ range, key, index: i });
  });
  return out;
}

function rulesSummary(g: SecurityGroup): string {
  const rules = g.spec.ingress.map(describeRule);
  if (rules.length === 0) return '(none)';
  return rules.length > 3 ? `${rules.slice(0, 3).join(', ')} +${rules.length - 3}` : rules.join(', ');
}

export const securityGroupKind = defineKind({
  kind: 'security-group',
  plural: 'security-groups',
  title: 'SecurityGroup',
  aliases: ['sg', 'securitygroup', 'securitygroups'],
  scope: 'project',
  description: 'Ingress rules (protocol, ports, source CIDR or group) for the instances a selector matches.',
  spec: SecurityGroupSpecSchema,
  status: SecurityGroupStatusSchema,
  normalize: (spec, problems) => normalizeSecurityGroupSpec(spec, problems),
  access: { node: { hosted: 'whole' } },
  stack: { section: 'security-groups' },
  columns: [
    { header: 'NAME', get: (o) => o.metadata.name },
    { header: 'SELECTOR', get: (o) => (o as SecurityGroup).spec.selector ?? '(all)' },
    { header: 'INGRESS', get: (o) => rulesSummary(o as SecurityGroup) },
    { header: 'AGE', get: (o) => age(o.metadata.createdAt) },
  ],
});
