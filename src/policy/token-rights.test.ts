import { describe, it, expect } from 'vitest';
import { principalOf } from './auth.js';
import { mayRevoke, tokenSpecFor, withinRights } from './token-rights.js';
import type { Token } from '../model/kinds/token.js';
import type { User } from '../model/kinds/user.js';
import type { StratusError } from '../model/errors.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const meta = (name: string) => ({ name, uid: `uid-${name}`, revision: 1, generation: 1, createdAt: '2026-01-01T00:00:00Z' });
const token = (name: string, spec: Token['spec']): Token => ({ kind: 'token', metadata: meta(name), spec });
const alice: User = { kind: 'user', metadata: meta('alice'), spec: { roles: [{ project: 'a', role: 'admin' }, { project: 'b', role: 'member' }] } };
const root: User = { kind: 'user', metadata: meta('root'), spec: { clusterAdmin: true } };

const aliceFull = principalOf(token('full', { user: 'alice' }), alice);
const aliceViewer = principalOf(token('view', { user: 'alice', roles: [{ project: 'a', role: 'viewer' }], expiresAt: '2026-01-02T00:00:00Z' }), alice);
const rootViewer = principalOf(token('rv', { user: 'root', roles: [{ project: 'a', role: 'viewer' }] }), root);
const robotAdmin = principalOf(token('ra', { roles: [{ project: 'a', role: 'admin' }] }), undefined);

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return `${(e as StratusError).code}: ${(e as Error).message}`;
  }
  return 'allowed';
}

describe('tokenSpecFor', () => {
  it('copies a narrowed caller with its narrowing, and its expiry ({} is not a way out)', () => {
    expect(tokenSpecFor(aliceViewer, {}, NOW)).toEqual({ user: 'alice', roles: [{ project: 'a', role: 'viewer' }], expiresAt: '2026-01-02T00:00:00Z' });
    const copy = principalOf(token('copy', tokenSpecFor(rootViewer, {}, NOW)), root);
    expect(copy.clusterAdmin).toBe(false);
    expect(Object.fromEntries(copy.roles)).toEqual({ a: 'viewer' });
  });

  it('copies a caller that is not narrowed as a plain token of its user', () => {
    expect(tokenSpecFor(aliceFull, {}, NOW)).toEqual({ user: 'alice' });
  });

  it.each([
    ['a role above its own', aliceViewer, { user: 'alice', roles: [{ project: 'a', role: 'member' as const }] }, /roles\[0\]: user:alice cannot grant member in project "a" \(you are viewer\)/],
    ['a role where it has none', aliceViewer, { user: 'alice', roles: [{ project: 'b', role: 'viewer' as const }] }, /you have no role there/],
    ['cluster admin, from a narrowed admin', rootViewer, { clusterAdmin: true }, /only cluster admins may create cluster-admin tokens/],
    ['a robot without admin', aliceViewer, { roles: [{ project: 'a', role: 'viewer' as const }] }, /robot tokens need admin/],
    ['a token for someone else', aliceFull, { user: 'bob' }, /only cluster admins may create tokens for another user/],
    ['a longer life than its own', aliceViewer, { expiresIn: '2d' }, /expiresIn: 2d would outlive the token that asks \(view, which expires at 2026-01-02T00:00:00Z\)/],
  ])('refuses %s', (_what, p, body, message) => {
    expect(refusal(() => tokenSpecFor(p, body, NOW))).toMatch(message);
    expect(refusal(() => tokenSpecFor(p, body, NOW))).toMatch(/^STRATUS_ERR_FORBIDDEN/);
  });

  it('lets a project admin make robots up to admin there, and a caller narrow itself further', () => {
    expect(tokenSpecFor(aliceFull, { roles: [{ project: 'a', role: 'viewer' }] }, NOW)).toEqual({ roles: [{ project: 'a', role: 'viewer' }] });
    expect(tokenSpecFor(robotAdmin, {}, NOW)).toEqual({ roles: [{ project: 'a', role: 'admin' }] });
    expect(tokenSpecFor(aliceViewer, { expiresIn: '1h' }, NOW).expiresAt).toBe('2026-01-01T01:00:00.000Z');
  });

  it('lets nodes and join tokens create nothing', () => {
    const node = principalOf(token('node-n1', { node: 'n1' }), undefined);
    expect(refusal(() => tokenSpecFor(node, { roles: [{ project: 'a', role: 'viewer' }] }, NOW))).toMatch(/node:n1 cannot create tokens/);
  });
});

describe('revoking', () => {
  it('lets a narrowed token revoke itself and what is within it, not its user\'s wider tokens', () => {
    expect(mayRevoke(aliceViewer, { user: 'alice', roles: [{ project: 'a', role: 'admin' }] }, 'view')).toBe(true); // itself
    expect(mayRevoke(aliceViewer, { user: 'alice' }, 'full')).toBe(false);
    expect(mayRevoke(aliceViewer, { user: 'alice', roles: [{ project: 'a', role: 'member' }] }, 'other')).toBe(false);
    expect(mayRevoke(aliceViewer, { user: 'alice', roles: [{ project: 'a', role: 'viewer' }] }, 'other')).toBe(true);
    expect(mayRevoke(aliceFull, { user: 'alice' }, 'full-2')).toBe(true);
    expect(mayRevoke(aliceFull, { roles: [{ project: 'a', role: 'member' }] }, 'robot')).toBe(true);
    expect(mayRevoke(aliceFull, { roles: [{ project: 'b', role: 'viewer' }] }, 'robot-b')).toBe(false); // member of b, not admin
  });

  it('holds cluster-admin grants above anyone but a cluster admin', () => {
    expect(withinRights(aliceFull, { clusterAdmin: true })).toBe(false);
    expect(withinRights(principalOf(token('r', { user: 'root' }), root), { clusterAdmin: true })).toBe(true);
  });
});
