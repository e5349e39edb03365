/**
 * What the resource pages' forms and filters send and show, built from their text fields: a new
 * network, security-group rules, a token request and its checks, an audit query, the events
 * filter. Pure (the pages do the requests); the checks are the kinds' own (validateObject).
 */
import type { FieldProblem } from '../../../src/model/errors.js';
import { tokenKind } from '../../../src/model/kinds/index.js';
import type { IngressRuleSpec } from '../../../src/model/kinds/security-group.js';
import type { Token } from '../../../src/model/kinds/token.js';
import type { StratusEvent } from '../../../src/model/kinds/event.js';
import type { AuditQuery, CreateTokenRequest, RoleName } from '../../../src/client/routes.js';
import { validateObject } from '../ui/form.js';

/** The body of a new network from the form's text (empty fields left out). */
export function networkBody(name: string, cidr: string, description: string) {
  return { kind: 'network', metadata: { name: name.trim() }, spec: { ...(cidr.trim() ? { cidr: cidr.trim() } : {}), ...(description.trim() ? { description: description.trim() } : {}) } };
}

/** One rule as the form holds it: text fields, the source as a choice and a value. */
export interface RuleDraft {
  protocol: string;
  ports: string;
  source: 'any' | 'cidr' | 'group';
  from: string;
}

export const NEW_RULE: RuleDraft = { protocol: 'tcp', ports: '', source: 'any', from: '' };

/** The rules as the API takes them (empty ports, icmp's ports and an "any" source left out). Pure. */
export function ingressOf(rules: RuleDraft[]): IngressRuleSpec[] {
  return rules.map((r) => ({
    protocol: r.protocol as IngressRuleSpec['protocol'],
    ...(r.ports.trim() && r.protocol !== 'icmp' ? { ports: r.ports.trim() } : {}),
    ...(r.source === 'any' ? {} : { from: { [r.source]: r.from.trim() } }),
  }));
}

/** A rule in words: "tcp 80 from 10.0.0.0/8", "icmp from group web", "udp from anywhere". */
export function ruleText(r: IngressRuleSpec): string {
  const from = r.from?.cidr ?? (r.from?.group !== undefined ? `group ${r.from.group}` : 'anywhere');
  return `${r.protocol}${r.ports ? ` ${r.ports}` : ''} from ${from}`;
}

/** The token's rights in words: "cluster admin", "shop:member, web:viewer", "as its user". */
export function tokenRights(t: Token): string {
  if (t.spec.join) return 'join nodes';
  if (t.spec.node) return `node ${t.spec.node}`;
  const parts = [t.spec.clusterAdmin ? 'cluster admin' : '', ...(t.spec.roles ?? []).map((r) => `${r.project}:${r.role}`)].filter(Boolean);
  return parts.join(', ') || (t.spec.user ? `all of ${t.spec.user}'s roles` : 'none');
}

/** The caller as whoami tells it: user (absent for robot tokens), cluster admin, roles per project. */
export interface Caller { user?: string; clusterAdmin: boolean; roles: { project: string; role: RoleName }[] }

const RANK: Record<RoleName, number> = { viewer: 1, member: 2, admin: 3 };

function roleOf(who: Caller, project: string): number {
  return Math.max(0, ...who.roles.filter((r) => r.project === project).map((r) => RANK[r.role]));
}

/**
 * Whether the caller may make tokens at all (policy/token-rights.ts): a person copies or narrows
 * their own rights; a robot token only makes robot tokens of projects it administers.
 */
export function mayCreateTokens(who: Caller): boolean {
  return who.clusterAdmin || who.user !== undefined || who.roles.some((r) => r.role === 'admin');
}

/**
 * Whether the caller may revoke `t` (policy/token-rights.ts mayRevoke, as far as whoami tells):
 * cluster admins any; otherwise a token it manages (its user's, or a robot's of projects it
 * administers) granting nothing beyond the caller's roles.
 */
export function mayRevokeToken(who: Caller, t: Token): boolean {
  if (who.clusterAdmin) return true;
  const s = t.spec;
  if (s.clusterAdmin || s.node || s.join) return false;
  const roles = s.roles ?? [];
  const managed = s.user !== undefined ? s.user === who.user : roles.length > 0 && roles.every((r) => roleOf(who, r.project) >= RANK.admin);
  return managed && roles.every((r) => roleOf(who, r.project) >= RANK[r.role as RoleName]);
}

export interface TokenDraft { name: string; expiresIn: string; description: string; project: string; role: '' | RoleName }

/** The create request from the form (empty fields left out; a role only with a project). Pure. */
export function tokenRequest(d: TokenDraft): CreateTokenRequest {
  return {
    ...(d.name.trim() ? { name: d.name.trim() } : {}),
    ...(d.expiresIn.trim() ? { expiresIn: d.expiresIn.trim() } : {}),
    ...(d.description.trim() ? { description: d.description.trim() } : {}),
    ...(d.project && d.role ? { roles: [{ project: d.project, role: d.role }] } : {}),
  };
}

/**
 * Problems with the request before it is sent, by the token kind's schema (name, roles) and the
 * API's lifetime rule (a number and a unit), at the request's own field names.
 */
export function tokenProblems(req: CreateTokenRequest): FieldProblem[] {
  const body = { kind: 'token', metadata: { name: req.name ?? 'generated' }, spec: { ...(req.roles ? { roles: req.roles } : {}), ...(req.description ? { description: req.description } : {}) } };
  const problems = validateObject(tokenKind, body).map((p) => ({ ...p, path: p.path === 'metadata.name' ? 'name' : p.path.replace(/^spec\./, '') }));
  if (req.expiresIn !== undefined && !/^\d+(ms|s|m|h|d)$/.test(req.expiresIn)) problems.push({ path: 'expiresIn', message: `${JSON.stringify(req.expiresIn)} is not a duration (use e.g. 90s, 15m, 12h, 30d)`, value: req.expiresIn });
  return problems;
}

export const AUDIT_PAGE = 100;

export interface AuditFilter { actor: string; project: string; kind: string; failed: boolean }

/** The API query of a filter (empty fields left out), from `before` when paging on. Pure. */
export function auditQuery(f: AuditFilter, before?: string): Record<string, string | number | boolean> {
  const q: AuditQuery = { limit: AUDIT_PAGE, ...(before ? { before } : {}) };
  if (f.actor.trim()) q.actor = f.actor.trim();
  if (f.project.trim()) q.project = f.project.trim();
  if (f.kind.trim()) q.kind = f.kind.trim();
  if (f.failed) q.failed = true;
  return q as Record<string, string | number | boolean>;
}

export interface EventFilter {
  warningsOnly: boolean;
  /** Case-insensitive text found in the reason, the object or the message. */
  text: string;
}

/** The events `filter` keeps, newest first. Pure. */
export function filterEvents(events: StratusEvent[], filter: EventFilter): StratusEvent[] {
  const text = filter.text.trim().toLowerCase();
  return events
    .filter((e) => !filter.warningsOnly || e.spec.type === 'Warning')
    .filter((e) => !text || `${e.spec.reason} ${e.spec.object.kind}/${e.spec.object.name} ${e.spec.message}`.toLowerCase().includes(text))
    .sort((a, b) => lastTime(b).localeCompare(lastTime(a)));
}

/** When the event last happened. */
export function lastTime(e: StratusEvent): string {
  return e.spec.lastTime ?? e.metadata.createdAt;
}

