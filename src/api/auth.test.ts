import { describe, it, expect } from 'vitest';
import { principalOf, denyReason, canSee } from './auth.js';
import { instanceKind, nodeKind, eventKind, projectKind } from '../model/kinds/index.js';
import type { Token } from '../model/kinds/token.js';
import type { User } from '../model/kinds/user.js';

const meta = (name: string) => ({ name, uid: name, revision: 1, generation: 1, createdAt: '2026-01-01T00:00:00Z' });
const token = (spec: Token['spec']): Token => ({ kind: 'token', metadata: meta('t'), spec });
const user = (spec: User['spec']): User => ({ kind: 'user', metadata: meta('alice'), spec });

describe('principalOf', () => {
  const alice = user({ roles: [{ project: 'a', role: 'admin' }, { project: 'b', role: 'viewer' }] });
  it.each([
    ['robot token: exactly its roles', token({ roles: [{ project: 'a', role: 'member' }] }), undefined, { a: 'member' }, false],
    ['user token: the user\'s roles', token({ user: 'alice' }), alice, { a: 'admin', b: 'viewer' }, false],
    ['narrowed: the lower of both', token({ user: 'alice', roles: [{ project: 'a', role: 'viewer' }, { project: 'b', role: 'admin' }] }), alice, { a: 'viewer', b: 'viewer' }, false],
    ['narrowed: projects the user lacks are dropped', token({ user: 'alice', roles: [{ project: 'c', role: 'admin' }] }), alice, {}, false],
    ['admin user, narrowed token: not cluster admin', token({ user: 'alice', roles: [{ project: 'a', role: 'member' }] }), user({ clusterAdmin: true }), { a: 'member' }, false],
    ['admin user, plain token: cluster admin', token({ user: 'alice' }), user({ clusterAdmin: true }), {}, true],
  ])('%s', (_name, tok, u, roles, admin) => {
    const p = principalOf(tok, u);
    expect(Object.fromEntries(p.roles)).toEqual(roles);
    expect(p.clusterAdmin).toBe(admin);
  });
});

describe('denyReason', () => {
  const member = principalOf(token({ roles: [{ project: 'a', role: 'member' }] }), undefined);
  const viewer = principalOf(token({ roles: [{ project: 'a', role: 'viewer' }] }), undefined);
  it.each([
    [member, instanceKind, 'create', 'a', true],
    [member, instanceKind, 'create', 'b', false],
    [viewer, instanceKind, 'list', 'a', true],
    [viewer, instanceKind, 'delete', 'a', false],
    [member, instanceKind, 'status', 'a', false],   // status is the platform's
    [member, eventKind, 'create', 'a', false],      // events too
    [member, nodeKind, 'get', undefined, true],     // nodes are readable by all
    [member, nodeKind, 'update', undefined, false],
    [member, projectKind, 'delete', undefined, false],
  ] as const)('%#', (p, kind, verb, project, allowed) => {
    expect(denyReason(p, kind, verb, project) === undefined).toBe(allowed);
  });

  it('filters what a principal can see', () => {
    const obj = (name: string, project?: string) => ({ metadata: { name, project }, spec: {} });
    expect(canSee(member, instanceKind, obj('x', 'a'))).toBe(true);
    expect(canSee(member, instanceKind, obj('x', 'b'))).toBe(false);
    expect(canSee(member, projectKind, obj('a'))).toBe(true);
    expect(canSee(member, projectKind, obj('b'))).toBe(false);
  });
});
