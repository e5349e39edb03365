/**
 * Which tokens a caller may create and revoke. A token never mints more than it holds:
 *
 *   - node credentials and join tokens create no tokens;
 *   - a token for another user: cluster admins only;
 *   - a token for yourself needs no role beyond what it grants: each role at most your own in that
 *     project, clusterAdmin only if you are one. Without roles it is a copy of the caller's rights:
 *     a narrowed caller (a token with its own roles) makes a token narrowed the same way;
 *   - a robot token (no user) needs the admin role in every project it grants a role in, and
 *     grants at most that; a robot cluster-admin token needs a cluster admin;
 *   - a token expires no later than the token that created it (without expiresIn it inherits
 *     that expiry).
 *
 * Revoking: cluster admins revoke any token; a caller revokes itself, and the tokens it manages
 * (its user's, robot tokens of projects it administers) whose rights are within its own.
 */
import { StratusError, ValidationError } from '../model/errors.js';
import { parseDuration } from '../model/format.js';
import type { TokenSpec } from '../model/kinds/token.js';
import { roleBindingProblems } from '../model/kinds/user.js';
import { ROLE_RANK, roleIn, tokenManagedBy, type Principal, type Role } from './auth.js';

export interface TokenRequest {
  user?: string;
  roles?: { project: string; role: Role }[];
  clusterAdmin?: boolean;
  expiresIn?: string;
  description?: string;
}

/** The spec of the token `p` asks for, refusing any grant beyond its own rights. `now`: epoch ms. */
export function tokenSpecFor(p: Principal, body: TokenRequest, now: number): TokenSpec {
  if (p.node || p.join) throw forbidden(`${p.id} cannot create tokens`);
  const problems = roleBindingProblems(body.roles, 'roles');
  if (problems.length > 0) throw new ValidationError(problems);
  const copy = body.roles === undefined && body.clusterAdmin === undefined;
  const user = body.user ?? (copy ? p.user : undefined);
  if (user !== undefined && user !== p.user && !p.clusterAdmin) throw forbidden(`only cluster admins may create tokens for another user ("${user}")`);
  const spec: TokenSpec = user !== undefined ? { user } : {};
  // A copy made by a narrowed caller keeps its narrowing: its effective roles, written out.
  const roles = copy && p.narrowed && user === p.user ? inherited(p) : body.roles;
  const clusterAdmin = copy && p.narrowed && user === p.user ? p.clusterAdmin : body.clusterAdmin === true;
  if (user === undefined && !roles?.length && !clusterAdmin) {
    throw new ValidationError([{ path: 'roles', message: 'a robot token needs roles (e.g. [{"project": "team-a", "role": "member"}]) or clusterAdmin' }]);
  }
  if (clusterAdmin) {
    if (!p.clusterAdmin) throw forbidden('only cluster admins may create cluster-admin tokens');
    spec.clusterAdmin = true;
  }
  checkGrants(p, roles ?? [], user === undefined);
  if (roles !== undefined) spec.roles = roles;
  const expiresAt = expiryFor(p, body.expiresIn, now);
  if (expiresAt) spec.expiresAt = expiresAt;
  if (body.description) spec.description = body.description;
  return spec;
}

/** Whether `p` may revoke the token `name` with this spec. */
export function mayRevoke(p: Principal, spec: TokenSpec, name: string): boolean {
  if (p.clusterAdmin || p.token === name) return true;
  return tokenManagedBy(p, spec) && withinRights(p, spec);
}

/** Whether a token with this spec grants nothing `p` lacks. */
export function withinRights(p: Principal, spec: TokenSpec): boolean {
  if (p.clusterAdmin) return true;
  if (spec.clusterAdmin || spec.node || spec.join) return false;
  if (spec.user !== undefined && spec.roles === undefined) return !p.narrowed && spec.user === p.user; // all of its user's rights
  return (spec.roles ?? []).every((r) => atLeast(roleIn(p, r.project), r.role as Role));
}

function inherited(p: Principal): { project: string; role: Role }[] | undefined {
  if (p.clusterAdmin) return undefined;
  return [...p.roles].map(([project, role]) => ({ project, role }));
}

function checkGrants(p: Principal, roles: { project: string; role: Role }[], robot: boolean): void {
  for (const [i, r] of roles.entries()) {
    const mine = roleIn(p, r.project);
    const needed: Role = robot ? 'admin' : 'viewer';
    if (!atLeast(mine, needed) || !atLeast(mine, r.role as Role)) {
      const why = !mine ? 'you have no role there' : `you are ${mine}${robot ? '; robot tokens need admin' : ''}`;
      throw forbidden(`roles[${i}]: ${p.id} cannot grant ${r.role} in project "${r.project}" (${why})`);
    }
  }
}

/** The child's expiry: the asked lifetime, refused past the caller's own expiry, which it inherits by default. */
function expiryFor(p: Principal, expiresIn: string | undefined, now: number): string | undefined {
  if (expiresIn === undefined) return p.expiresAt;
  const ms = parseDuration(expiresIn);
  if (ms === undefined) throw new ValidationError([{ path: 'expiresIn', message: 'is not a duration (use e.g. 90s, 15m, 12h, 30d)', value: expiresIn }]);
  const at = now + ms;
  if (p.expiresAt !== undefined && at > Date.parse(p.expiresAt)) {
    throw forbidden(`expiresIn: ${expiresIn} would outlive the token that asks (${p.token}, which expires at ${p.expiresAt}); ask for a shorter lifetime`);
  }
  return new Date(at).toISOString();
}

function atLeast(role: Role | undefined, needed: Role): boolean {
  return role !== undefined && ROLE_RANK[role] >= ROLE_RANK[needed];
}

function forbidden(message: string): StratusError {
  return new StratusError('STRATUS_ERR_FORBIDDEN', message);
}
