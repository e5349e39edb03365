/** user: a person (or robot) with roles per project and, maybe, cluster admin rights. */
import { Type, type Static } from '@sinclair/typebox';
import { defineKind, type StoredObject } from '../kind.js';
import { RoleBinding, Strict } from '../schema.js';
import type { FieldProblem } from '../errors.js';
import { age } from '../format.js';

export const UserSpecSchema = Type.Object(
  {
    displayName: Type.Optional(Type.String({ maxLength: 256 })),
    email: Type.Optional(Type.String({ maxLength: 320, pattern: '^[^@\\s]+@[^@\\s]+$', errorMessage: 'is not an email address' })),
    clusterAdmin: Type.Optional(Type.Boolean({ description: 'May do everything, in every project.' })),
    roles: Type.Optional(Type.Array(RoleBinding, { maxItems: 1024, description: 'One role per project.' })),
    disabled: Type.Optional(Type.Boolean({ description: 'A disabled user\'s tokens stop working.' })),
  },
  Strict,
);

export const UserStatusSchema = Type.Object({ lastSeenAt: Type.Optional(Type.String()) }, Strict);

export type UserSpec = Static<typeof UserSpecSchema>;
export type User = StoredObject<UserSpec, Static<typeof UserStatusSchema>>;

export function roleBindingProblems(roles: { project: string }[] | undefined, path: string): FieldProblem[] {
  const seen = new Set<string>();
  const problems: FieldProblem[] = [];
  roles?.forEach((r, i) => {
    if (seen.has(r.project)) problems.push({ path: `${path}[${i}].project`, message: `${JSON.stringify(r.project)} has two roles; give each project one`, value: r.project });
    seen.add(r.project);
  });
  return problems;
}

export const userKind = defineKind({
  kind: 'user',
  plural: 'users',
  title: 'User',
  aliases: [],
  scope: 'cluster',
  description: 'A person or robot that holds roles in projects.',
  spec: UserSpecSchema,
  status: UserStatusSchema,
  writers: 'cluster-admins',
  access: { visibleTo: 'self', hidden: true },
  admission: ['last-cluster-admin'],
  normalize: (spec, problems) => {
    problems.push(...roleBindingProblems(spec.roles, 'spec.roles'));
    return spec;
  },
  columns: [
    { header: 'NAME', get: (o) => o.metadata.name },
    { header: 'ADMIN', get: (o) => ((o as User).spec.clusterAdmin ? 'yes' : '') },
    { header: 'ROLES', get: (o) => ((o as User).spec.roles ?? []).map((r) => `${r.project}:${r.role}`).join(',') },
    { header: 'AGE', get: (o) => age(o.metadata.createdAt) },
  ],
});
