import { describe, it, expect } from 'vitest';
import { cascadeOrder, holdsProject, isDeleting, madeFor } from './cascade.js';
import { ALL_KINDS, eventKind, instanceKind, networkKind, nodeKind, projectKind, serviceKind, stackKind } from './kinds/index.js';
import type { StoredObject } from './kind.js';

describe('a project cascade', () => {
  it('deletes owners before what they own (stack, service, instance), and only project kinds', () => {
    const order = cascadeOrder(ALL_KINDS).map((k) => k.kind);
    expect(order.slice(0, 2)).toEqual(['stack', 'service']);
    expect(order.indexOf('service')).toBeLessThan(order.indexOf('instance'));
    expect(order).not.toContain(nodeKind.kind);
    expect(order).not.toContain(projectKind.kind);
    expect(new Set(order)).toEqual(new Set(ALL_KINDS.filter((k) => k.scope === 'project').map((k) => k.kind)));
  });

  it('keeps the order whatever order the kinds come in', () => {
    expect(cascadeOrder([instanceKind, serviceKind, stackKind]).map((k) => k.kind)).toEqual(['stack', 'service', 'instance']);
  });

  it('is held by objects, not by events; what the platform made for the project goes with it', () => {
    expect([holdsProject(instanceKind), holdsProject(eventKind), holdsProject(nodeKind)]).toEqual([true, false, false]);
    const net = (owner?: { kind: string; name: string }) => ({ kind: networkKind.kind, metadata: { name: 'default', project: 'p', ...(owner ? { owner } : {}) }, spec: {} }) as unknown as StoredObject;
    expect([madeFor('p', net({ kind: 'project', name: 'p' })), madeFor('p', net()), madeFor('q', net({ kind: 'project', name: 'p' }))]).toEqual([true, false, false]);
  });

  it('tells a project being deleted by its phase', () => {
    const project = (phase?: string) => ({ kind: 'project', metadata: { name: 'p' }, spec: {}, ...(phase ? { status: { phase } } : {}) }) as unknown as StoredObject;
    expect([isDeleting(project('Deleting')), isDeleting(project('Active')), isDeleting(project()), isDeleting(undefined)]).toEqual([true, false, false, false]);
  });
});
