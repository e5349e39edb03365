import { describe, expect, it } from 'vitest';
import type { Instance } from '../model/kinds/instance.js';
import type { Volume } from '../model/kinds/volume.js';
import { volumeStatus } from './volumes.js';

const vol = (spec: Partial<Volume['spec']> = {}, status?: Volume['status']): Volume => ({
  kind: 'volume', metadata: { name: 'data', project: 'p', uid: 'v', revision: 1, generation: 1, createdAt: '2026-01-01T00:00:00Z' },
  spec: { size: 64, type: 'filesystem', ...spec }, ...(status ? { status } : {}),
});
const user = (name: string, phase: string, node?: string, createdAt = '2026-01-02T00:00:00Z'): Instance => ({
  kind: 'instance', metadata: { name, project: 'p', uid: name, revision: 1, generation: 1, createdAt },
  spec: { driver: 'process', volumes: [{ volume: 'data', path: '/d' }] }, status: { phase, ...(node ? { node } : {}) },
} as unknown as Instance);

describe('volumeStatus', () => {
  it.each<[string, Volume, Instance[], Partial<NonNullable<Volume['status']>>]>([
    ['no user, no node: Pending', vol(), [], { phase: 'Pending', node: undefined }],
    ['spec.node: Available there before any use', vol({ node: 'n3' }), [], { phase: 'Available', node: 'n3' }],
    ['a pending user does not place it', vol(), [user('a', 'Pending')], { phase: 'Pending' }],
    ['the first bound user places it and holds it', vol(), [user('a', 'Running', 'n2')], { phase: 'Attached', node: 'n2', attachedTo: 'a' }],
    ['the oldest bound user decides the node', vol(), [user('b', 'Scheduled', 'n4', '2026-01-03T00:00:00Z'), user('a', 'Scheduled', 'n2')], { phase: 'Attached', node: 'n2' }],
    ['its node stays once set', vol({}, { phase: 'Available', node: 'n1' }), [user('a', 'Running', 'n2')], { phase: 'Attached', node: 'n1', attachedTo: 'a' }],
    ['an instance stopped by a person (Off) still holds it', vol({}, { phase: 'Attached', node: 'n1', attachedTo: 'a' }), [user('a', 'Off', 'n1')], { phase: 'Attached', node: 'n1', attachedTo: 'a' }],
    ['a finished user frees it', vol({}, { phase: 'Attached', node: 'n1', attachedTo: 'a' }), [user('a', 'Succeeded', 'n1')], { phase: 'Available', node: 'n1', attachedTo: undefined }],
  ])('%s', (_name, v, users, want) => {
    expect(volumeStatus(v, users)).toMatchObject(Object.fromEntries(Object.entries(want).filter(([, val]) => val !== undefined)));
    for (const [k, val] of Object.entries(want)) if (val === undefined) expect(volumeStatus(v, users)).not.toHaveProperty(k);
  });
});
