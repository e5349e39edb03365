import { describe, expect, it } from 'vitest';
import { networkKind, securityGroupKind } from '../../../src/model/kinds/index.js';
import type { StratusEvent } from '../../../src/model/kinds/event.js';
import type { Token } from '../../../src/model/kinds/token.js';
import { validateObject } from '../ui/form.js';
import { auditQuery, filterEvents, ingressOf, mayCreateTokens, mayRevokeToken, networkBody, NEW_RULE, ruleText, tokenProblems, tokenRequest, tokenRights } from './requests.js';

describe('network form', () => {
  it('leaves empty fields out, and the kind refuses a range with host bits, naming spec.cidr', () => {
    expect(networkBody(' back ', '', '')).toEqual({ kind: 'network', metadata: { name: 'back' }, spec: {} });
    const problems = validateObject(networkKind, networkBody('back', '10.50.0.5/24', 'db'));
    expect(problems).toEqual([expect.objectContaining({ path: 'spec.cidr', message: expect.stringMatching(/host bits set; did you mean "10.50.0.0\/24"/) })]);
  });
});

describe('security group rules', () => {
  it('become ingress rules: empty ports, icmp\'s ports and "anywhere" left out', () => {
    const rules = ingressOf([{ ...NEW_RULE, ports: '80' }, { protocol: 'icmp', ports: '80', source: 'cidr', from: ' 10.0.0.0/8 ' }, { protocol: 'udp', ports: '', source: 'group', from: 'web' }]);
    expect(rules).toEqual([{ protocol: 'tcp', ports: '80' }, { protocol: 'icmp', from: { cidr: '10.0.0.0/8' } }, { protocol: 'udp', from: { group: 'web' } }]);
    expect(rules.map(ruleText)).toEqual(['tcp 80 from anywhere', 'icmp from 10.0.0.0/8', 'udp from group web']);
  });

  it('overlapping rules are refused at the later rule\'s ports, as the API says it', () => {
    const spec = { ingress: ingressOf([{ ...NEW_RULE, ports: '80' }, { ...NEW_RULE, ports: '70-90' }]) };
    const problems = validateObject(securityGroupKind, { metadata: { name: 'web' }, spec });
    expect(problems.map((p) => p.path)).toEqual(['spec.ingress[1].ports']);
  });
});

describe('token form', () => {
  const draft = { name: '', expiresIn: '', description: '', project: '', role: '' as const };
  it('sends only what is filled; a role only with a project', () => {
    expect(tokenRequest(draft)).toEqual({});
    expect(tokenRequest({ ...draft, name: 'ci', expiresIn: '30d', project: 'shop', role: 'viewer' })).toEqual({ name: 'ci', expiresIn: '30d', roles: [{ project: 'shop', role: 'viewer' }] });
    expect(tokenRequest({ ...draft, project: 'shop' })).toEqual({});
  });

  it('is checked by the token kind (name) and the API\'s lifetime rule, at the request\'s field names', () => {
    expect(tokenProblems({ name: 'ci', expiresIn: '12h' })).toEqual([]);
    expect(tokenProblems({ name: 'CI!', expiresIn: '3x' }).map((p) => p.path)).toEqual(['name', 'expiresIn']);
  });

  it('is offered only to callers the API lets make tokens, and revoke only what they manage within their rights', () => {
    const robotViewer = { clusterAdmin: false, roles: [{ project: 'shop', role: 'viewer' as const }] };
    const ann = { user: 'ann', clusterAdmin: false, roles: [{ project: 'shop', role: 'member' as const }] };
    const robotAdmin = { clusterAdmin: false, roles: [{ project: 'shop', role: 'admin' as const }] };
    expect([robotViewer, ann, robotAdmin, { clusterAdmin: true, roles: [] }].map(mayCreateTokens)).toEqual([false, true, true, true]);
    const t = (spec: Token['spec']) => ({ spec }) as Token;
    expect(mayRevokeToken(ann, t({ user: 'ann' }))).toBe(true);
    expect(mayRevokeToken(ann, t({ user: 'bob' }))).toBe(false);
    expect(mayRevokeToken(ann, t({ user: 'ann', roles: [{ project: 'shop', role: 'admin' }] }))).toBe(false);
    expect(mayRevokeToken(ann, t({ roles: [{ project: 'shop', role: 'viewer' }] }))).toBe(false);
    expect(mayRevokeToken(robotAdmin, t({ roles: [{ project: 'shop', role: 'member' }] }))).toBe(true);
    expect(mayRevokeToken(robotAdmin, t({ node: 'n1' }))).toBe(false);
    expect(mayRevokeToken({ clusterAdmin: true, roles: [] }, t({ node: 'n1' }))).toBe(true);
  });

  it('rights read in words', () => {
    const t = (spec: Token['spec']) => ({ spec }) as Token;
    expect(tokenRights(t({ user: 'ann' }))).toBe("all of ann's roles");
    expect(tokenRights(t({ clusterAdmin: true, roles: [{ project: 'shop', role: 'member' }] }))).toBe('cluster admin, shop:member');
    expect(tokenRights(t({ node: 'n1' }))).toBe('node n1');
  });
});

describe('audit and events filters', () => {
  it('audit: empty filters left out, the cursor only when paging on', () => {
    expect(auditQuery({ actor: '', project: ' shop ', kind: '', failed: true })).toEqual({ limit: 100, project: 'shop', failed: true });
    expect(auditQuery({ actor: 'ann', project: '', kind: 'service', failed: false }, '0001-x')).toEqual({ limit: 100, before: '0001-x', actor: 'ann', kind: 'service' });
  });

  it('events: warnings only and text in reason, object or message, newest first', () => {
    const ev = (name: string, type: 'Normal' | 'Warning', reason: string, lastTime: string) => ({ metadata: { name, createdAt: lastTime }, spec: { type, reason, message: `about ${name}`, object: { kind: 'service', name: 'web' }, lastTime } }) as unknown as StratusEvent;
    const all = [ev('a', 'Normal', 'Scheduled', '2026-01-01T00:00:01Z'), ev('b', 'Warning', 'BackOff', '2026-01-01T00:00:03Z'), ev('c', 'Warning', 'Failed', '2026-01-01T00:00:02Z')];
    expect(filterEvents(all, { warningsOnly: false, text: '' }).map((e) => e.metadata.name)).toEqual(['b', 'c', 'a']);
    expect(filterEvents(all, { warningsOnly: true, text: '' }).map((e) => e.metadata.name)).toEqual(['b', 'c']);
    expect(filterEvents(all, { warningsOnly: false, text: 'ABOUT A' }).map((e) => e.metadata.name)).toEqual(['a']);
  });
});
