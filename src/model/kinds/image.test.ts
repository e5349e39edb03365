import { describe, it, expect } from 'vitest';
import { imageKind } from './index.js';
import { imageType, type Image } from './image.js';
import { parseProblems } from './testing.js';

const problems = (body: unknown) => parseProblems(imageKind, body);

describe('image kind', () => {
  it('is a root filesystem unless it says disk', () => {
    expect(imageType({ spec: {} } as Image)).toBe('rootfs');
    expect(imageType({ spec: { type: 'disk' } } as Image)).toBe('disk');
  });

  it('refuses an unknown type and container settings on a disk image', () => {
    expect(problems({ kind: 'image', metadata: { name: 'd' }, spec: { type: 'iso' } }).join('\n')).toContain('spec.type: "iso" is not one of: rootfs, disk');
    expect(problems({ kind: 'image', metadata: { name: 'd' }, spec: { type: 'disk', entrypoint: ['/bin/sh'] } })).toEqual(['spec.entrypoint: applies to rootfs images only (a disk image boots its own system); remove it']);
  });

  it('keeps the type once the image exists', () => {
    expect(imageKind.checkUpdate!({}, { description: 'x' })).toEqual([]);
    expect(imageKind.checkUpdate!({}, { type: 'rootfs' })).toEqual([]);
    expect(imageKind.checkUpdate!({ type: 'disk' }, {}).map((p) => `${p.path}: ${p.message}`)).toEqual(['spec.type: cannot change from disk to rootfs once the image exists; delete it and import it again with --type rootfs']);
  });

  it('shows the type and format in its columns', () => {
    const img = { kind: 'image', metadata: { name: 'deb', createdAt: new Date().toISOString() }, spec: { type: 'disk' }, status: { phase: 'Ready', format: 'qcow2', size: 3 << 20, virtualSize: 2 ** 31 } } as unknown as Image;
    const cols = Object.fromEntries(imageKind.columns.map((c) => [c.header, c.get(img as never)]));
    expect(cols).toMatchObject({ TYPE: 'disk/qcow2', SIZE: '3.0Mi', VIRTUAL: '2.0Gi' });
  });
});
