import { describe, it, expect } from 'vitest';
import { principalOf, denyReason, canSee, viewOf } from './auth.js';
import { instanceKind, nodeKind, eventKind, projectKind, networkKind, securityGroupKind, tokenKind, userKind, imageKind } from '../model/kinds/index.js';
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

  describe('node agents', () => {
    const node = principalOf({ ...token({ node: 'n1' }), metadata: meta('node-n1') }, undefined);
    it.each([
      [nodeKind, 'list', undefined, true],         // filtered to its own
      [nodeKind, 'status', 'n1', true],
      [nodeKind, 'status', 'n2', false],          // only its own node
      [nodeKind, 'update', 'n1', false],
      [instanceKind, 'watch', undefined, true],
      [instanceKind, 'status', 'web', true],      // the route checks the instance is bound to it
      [instanceKind, 'create', undefined, false],
      [instanceKind, 'delete', 'web', false],
      [imageKind, 'get', 'busybox', true],
      [networkKind, 'list', undefined, true],     // its networking reads networks...
      [networkKind, 'get', 'default', true],
      [networkKind, 'status', 'default', false],  // ...but their status is the controller's
      [networkKind, 'delete', 'default', false],
      [securityGroupKind, 'watch', undefined, true],
      [securityGroupKind, 'create', undefined, false],
      [tokenKind, 'list', undefined, false],
      [userKind, 'get', 'alice', false],
      [projectKind, 'list', undefined, false],
    ] as const)('%#', (kind, verb, name, allowed) => {
      expect(denyReason(node, kind, verb, 'p', name) === undefined).toBe(allowed);
    });

    it('reads no users, tokens or projects (what else it reads: node-authorizer.test.ts)', () => {
      const obj = (name: string, project?: string) => ({ kind: 'x', metadata: { ...meta(name), project }, spec: {} });
      expect(viewOf(node, userKind, obj('alice'))).toBeUndefined();
      expect(viewOf(node, tokenKind, obj('node-n1'))).toBeUndefined();
      expect(viewOf(node, projectKind, obj('a'))).toBeUndefined();
      expect(viewOf(node, nodeKind, obj('n2'))).toBeUndefined();
      expect(viewOf(node, nodeKind, obj('n1'))).toBeDefined();
    });
  });
});
