/**
 * Authentication (bearer tokens, hashed at rest) and authorization (roles per project).
 *
 * A token string is looked up by its SHA-256 (model/keyspace.ts `tokenKeys.byHash`), which names the
 * token object; the token's user (if any) supplies roles, narrowed by the token's own roles.
 * Principals are cached and the cache is dropped on any change to users, tokens or hashes, which
 * the shared informers (runtime/informers.ts) report within the same process tick as the commit.
 */
import { createHash } from 'node:crypto';
import type { Repository } from '../store/repository.js';
import type { Kind, StoredObject, Visibility } from '../model/kind.js';
import { StratusError } from '../model/errors.js';
import { tokenKind, userKind } from '../model/kinds/index.js';
import type { Token } from '../model/kinds/token.js';
import type { User } from '../model/kinds/user.js';
import type { Clock } from '../model/runtime.js';
import { tokenKeys } from '../model/keyspace.js';
import { nodeDenyReason, nodeView } from './node-authorizer.js';
import type { Subscription } from '../runtime/informer.js';
import { Informers } from '../runtime/informers.js';
import type { NodeScope } from './node-scope.js';

export type Role = 'viewer' | 'member' | 'admin';
export const ROLE_RANK: Record<Role, number> = { viewer: 1, member: 2, admin: 3 };

export interface Principal {
  /** Shown in audit records: user:alice, token:ci-deploy, node:n1. */
  id: string;
  user?: string;
  /** The token's name, and its uid (audit records name both). */
  token: string;
  tokenUid?: string;
  /** When the token expires; tokens it creates expire no later. */
  expiresAt?: string;
  /** The token carries its own roles or clusterAdmin, narrowing its user's (tokens it creates stay within them). */
  narrowed?: boolean;
  clusterAdmin: boolean;
  roles: ReadonlyMap<string, Role>;
  /** The node an agent credential acts for. */
  node?: string;
  /** A join token: may only register nodes. */
  join?: boolean;
}

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'delete' | 'status' | 'manage';

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Role of `principal` in `project`, or undefined. Cluster admins are admins everywhere. */
export function roleIn(principal: Principal, project: string): Role | undefined {
  if (principal.clusterAdmin) return 'admin';
  return principal.roles.get(project);
}

export function hasRole(principal: Principal, project: string, needed: Role): boolean {
  const role = roleIn(principal, project);
  return role !== undefined && ROLE_RANK[role] >= ROLE_RANK[needed];
}

const READ_VERBS: ReadonlySet<Verb> = new Set(['get', 'list', 'watch']);

/** Whether objects of `kind` answer 404 alike whether they exist or the caller may not see them (no enumeration): its `access.hidden`. */
export function isHidden(kind: Kind): boolean {
  return kind.access.hidden === true;
}

/**
 * Why `principal` may not do `verb` on `kind` (in `project`), or undefined when it may.
 * Lists of cluster kinds are allowed here and filtered per object by `canSee`.
 */
export function denyReason(principal: Principal, kind: Kind, verb: Verb, project?: string, name?: string): string | undefined {
  if (principal.clusterAdmin) return undefined;
  if (principal.join) return 'a join token can only register nodes (POST /v1/nodes/join)';
  if (principal.node) return nodeDenyReason(principal.node, kind, verb, name);
  if (verb === 'status') return `only the platform (cluster admins and node agents) may write the status of ${kind.plural}`;
  const read = READ_VERBS.has(verb);
  if (kind.scope === 'project') {
    if (!project) return read ? undefined : `${verb} on ${kind.plural} needs a project`;
    if (kind.writers === 'cluster-admins' && !read) return `only cluster admins may ${verb} ${kind.plural}`;
    if (kind.writers !== 'users' && !read) return `${kind.plural} are written by the platform only`;
    const needed: Role = read ? 'viewer' : 'member';
    if (hasRole(principal, project, needed)) return undefined;
    return `${principal.id} needs the ${needed} role in project "${project}" to ${verb} ${kind.plural}`;
  }
  if (read) return undefined;
  return `only cluster admins may ${verb} ${kind.plural}`;
}

/**
 * The object as `principal` may read it: whole, redacted (node credentials, see
 * node-authorizer.ts) or undefined when it may not read it at all. Filters lists and watches.
 */
export function viewOf(principal: Principal, kind: Kind, obj: StoredObject, scope?: NodeScope): StoredObject | undefined {
  if (principal.node) return nodeView(scope, principal.node, kind, obj);
  return canSee(principal, kind, obj) ? obj : undefined;
}

type Visible = { metadata: { name: string; project?: string }; spec: unknown };

/** Each visibility a kind may declare (`access.visibleTo`, model/checklist.ts): who, besides cluster admins, sees an object. */
const VISIBLE: Record<Visibility, (principal: Principal, obj: Visible) => boolean> = {
  'project-members': (p, obj) => obj.metadata.project !== undefined && roleIn(p, obj.metadata.project) !== undefined,
  'its-members': (p, obj) => roleIn(p, obj.metadata.name) !== undefined,
  self: (p, obj) => obj.metadata.name === p.user,
  'token-holders': (p, obj) => obj.metadata.name === p.token || tokenManagedBy(p, obj.spec as Token['spec']),
  everyone: () => true,
  'cluster-admins': () => false,
};

/** Whether a person or robot may read this object, as its kind's `access.visibleTo` says (nodes: `viewOf`, which needs the node scope). */
export function canSee(principal: Principal, kind: Kind, obj: Visible): boolean {
  if (principal.clusterAdmin) return true;
  if (principal.node || principal.join) return false;
  return VISIBLE[kind.access.visibleTo](principal, obj);
}

/**
 * Whether `principal` manages a token with this spec (sees and may revoke it): its user's tokens,
 * and robot tokens whose every role is in a project it administers.
 */
export function tokenManagedBy(principal: Principal, spec: Token['spec']): boolean {
  if (principal.clusterAdmin) return true;
  if (principal.node || principal.join) return false;
  if (spec.user !== undefined) return spec.user === principal.user;
  if (spec.clusterAdmin || spec.node || spec.join) return false;
  const roles = spec.roles ?? [];
  return roles.length > 0 && roles.every((r) => hasRole(principal, r.project, 'admin'));
}

export class Authenticator {
  private readonly cache = new Map<string, { principal: Principal; expiresAt?: number }>();
  private subs: Subscription[] = [];

  /** `informers`: the server's shared informers (default: this authenticator's own). */
  constructor(private readonly repo: Repository, private readonly clock: Clock, private readonly informers: Informers = new Informers(repo)) {}

  /** Starts cache invalidation (subscribes to the token-hash, token and user informers). Call once; `stop` ends it. */
  async start(): Promise<void> {
    const drop = () => this.cache.clear();
    const handler = { add: drop, update: drop, delete: drop, resync: drop };
    this.subs.push(await this.informers.records(tokenKeys.hashes).use(handler, { replay: false }));
    for (const kind of [tokenKind, userKind]) this.subs.push(await this.informers.of(kind).use(handler, { replay: false }));
  }

  stop(): void {
    for (const s of this.subs) s.close();
    this.subs = [];
  }

  /** Resolves a bearer secret to a principal; throws 401 errors (the HTTP header is read by api/bearer.ts). */
  async authenticate(token: string): Promise<Principal> {
    const hash = hashToken(token);
    const cached = this.cache.get(hash);
    if (cached && (cached.expiresAt === undefined || cached.expiresAt > this.clock.now())) return cached.principal;
    const resolved = await this.resolve(token, hash);
    this.cache.set(hash, resolved);
    return resolved.principal;
  }

  private async resolve(_token: string, hash: string): Promise<{ principal: Principal; expiresAt?: number }> {
    const ref = await this.repo.records.json<{ token: string }>(tokenKeys.byHash(hash));
    if (!ref) throw unauthenticated('the token is not valid (it may have been revoked)');
    const tok = await this.repo.find<Token>(tokenKind, ref.token);
    if (!tok) throw unauthenticated('the token is not valid (it may have been revoked)');
    const expiresAt = tok.spec.expiresAt ? Date.parse(tok.spec.expiresAt) : undefined;
    if (expiresAt !== undefined && expiresAt <= this.clock.now()) {
      throw new StratusError('STRATUS_ERR_TOKEN_EXPIRED', `token "${tok.metadata.name}" expired at ${tok.spec.expiresAt}; ask for a new one`);
    }
    const user = tok.spec.user ? await this.repo.find<User>(userKind, tok.spec.user) : undefined;
    if (tok.spec.user && !user) throw unauthenticated(`the user "${tok.spec.user}" of this token no longer exists`);
    if (user?.spec.disabled) throw unauthenticated(`the user "${user.metadata.name}" is disabled`);
    return { principal: principalOf(tok, user), expiresAt };
  }
}

/** Effective rights of a token: its user's, narrowed by the token's own roles if it has any. */
export function principalOf(tok: Token, user: User | undefined): Principal {
  const own = new Map((tok.spec.roles ?? []).map((r) => [r.project, r.role as Role]));
  let roles: Map<string, Role>;
  let clusterAdmin: boolean;
  if (!user) {
    roles = own;
    clusterAdmin = tok.spec.clusterAdmin === true;
  } else {
    const userRoles = new Map((user.spec.roles ?? []).map((r) => [r.project, r.role as Role]));
    const narrowed = tok.spec.roles !== undefined || tok.spec.clusterAdmin !== undefined;
    clusterAdmin = user.spec.clusterAdmin === true && (!narrowed || tok.spec.clusterAdmin === true);
    if (!narrowed) roles = userRoles;
    else {
      roles = new Map();
      for (const [project, role] of own) {
        const base = user.spec.clusterAdmin ? 'admin' : userRoles.get(project);
        if (base) roles.set(project, ROLE_RANK[base] < ROLE_RANK[role] ? base : role);
      }
    }
  }
  const id = tok.spec.node ? `node:${tok.spec.node}` : user ? `user:${user.metadata.name}` : `token:${tok.metadata.name}`;
  return {
    id, user: user?.metadata.name, token: tok.metadata.name, tokenUid: tok.metadata.uid, clusterAdmin, roles,
    ...(tok.spec.expiresAt ? { expiresAt: tok.spec.expiresAt } : {}),
    ...(!user || tok.spec.roles !== undefined || tok.spec.clusterAdmin !== undefined ? { narrowed: true } : {}),
    ...(tok.spec.node ? { node: tok.spec.node } : {}),
    ...(tok.spec.join ? { join: true } : {}),
  };
}

/** The 401 refusal: no credentials, or credentials that do not (or no longer) work. */
export function unauthenticated(message: string): StratusError {
  return new StratusError('STRATUS_ERR_UNAUTHENTICATED', message);
}
