/**
 * token: an API credential. The secret is shown once at creation and only its SHA-256 is kept
 * (under an internal key, never in this object). A token acts for its user, narrowed to its
 * own roles when it has some; a token without a user is a robot with exactly its roles.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineKind, type StoredObject } from '../kind.js';
import { DnsLabel, RoleBinding, Strict, Timestamp } from '../schema.js';
import { roleBindingProblems } from './user.js';
import { age } from '../format.js';

export const TokenSpecSchema = Type.Object(
  {
    user: Type.Optional(DnsLabel({ description: 'User the token acts for. Empty: a robot token with exactly its roles.' })),
    clusterAdmin: Type.Optional(Type.Boolean({ description: 'Cluster admin rights (only if its user has them, or for robot tokens made by a cluster admin).' })),
    roles: Type.Optional(Type.Array(RoleBinding, { maxItems: 1024, description: 'Roles of the token; for a user token they narrow the user\'s roles.' })),
    expiresAt: Type.Optional(Timestamp('After this time the token is refused.')),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
    node: Type.Optional(DnsLabel({ description: 'Set for node credentials: the node this agent token acts for.' })),
    join: Type.Optional(Type.Boolean({ description: 'A join token: it can only register new nodes (stratus agent --join-token).' })),
  },
  Strict,
);

export const TokenStatusSchema = Type.Object({ lastUsedAt: Type.Optional(Type.String()) }, Strict);

export type TokenSpec = Static<typeof TokenSpecSchema>;
export type Token = StoredObject<TokenSpec, Static<typeof TokenStatusSchema>>;

export const tokenKind = defineKind({
  kind: 'token',
  plural: 'tokens',
  title: 'Token',
  aliases: ['tok'],
  scope: 'cluster',
  description: 'An API credential; the secret is shown once and kept only as a hash.',
  spec: TokenSpecSchema,
  status: TokenStatusSchema,
  verbs: ['get', 'list', 'watch'],
  writers: 'cluster-admins',
  normalize: (spec, problems) => {
    problems.push(...roleBindingProblems(spec.roles, 'spec.roles'));
    return spec;
  },
  access: { visibleTo: 'token-holders', hidden: true },
  columns: [
    { header: 'NAME', get: (o) => o.metadata.name },
    { header: 'USER', get: (o) => (o as Token).spec.user ?? '(robot)' },
    { header: 'ROLES', get: (o) => tokenRoles(o as Token) },
    { header: 'EXPIRES', get: (o) => (o as Token).spec.expiresAt ?? 'never' },
    { header: 'AGE', get: (o) => age(o.metadata.createdAt) },
  ],
});

function tokenRoles(t: Token): string {
  if (t.spec.join) return 'join';
  if (t.spec.node) return `node:${t.spec.node}`;
  return [t.spec.clusterAdmin ? 'cluster-admin' : '', ...(t.spec.roles ?? []).map((r) => `${r.project}:${r.role}`)].filter(Boolean).join(',');
}
