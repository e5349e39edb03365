import { describe, expect, it } from 'vitest';
import type { StoredObject } from '../../../src/model/kind.js';
import { applyMessage, objectKey } from './watch-list.js';

function obj(name: string, revision: number, project = 'p'): StoredObject {
  return { kind: 'instance', metadata: { name, project, revision } as StoredObject['metadata'], spec: {} } as StoredObject;
}

describe('applyMessage', () => {
  it('adds and replaces on put, removes on delete', () => {
    const items = new Map<string, StoredObject>();
    expect(applyMessage(items, { type: 'put', object: obj('a', 5) as never })).toBe(true);
    expect(applyMessage(items, { type: 'put', object: obj('a', 7) as never })).toBe(true);
    expect(items.get('p/a')!.metadata.revision).toBe(7);
    expect(applyMessage(items, { type: 'delete', object: obj('a', 8) as never })).toBe(true);
    expect(items.size).toBe(0);
  });

  it('ignores a put older than what it holds (a replayed event after the list)', () => {
    const items = new Map([['p/a', obj('a', 9)]]);
    expect(applyMessage(items, { type: 'put', object: obj('a', 4) as never })).toBe(false);
    expect(items.get('p/a')!.metadata.revision).toBe(9);
  });

  it('keeps objects of different projects apart, and ignores bookmarks', () => {
    const items = new Map<string, StoredObject>();
    applyMessage(items, { type: 'put', object: obj('web', 1, 'a') as never });
    applyMessage(items, { type: 'put', object: obj('web', 2, 'b') as never });
    expect([...items.keys()].sort()).toEqual(['a/web', 'b/web']);
    expect(applyMessage(items, { type: 'bookmark', revision: 10 })).toBe(false);
    expect(objectKey({ kind: 'node', metadata: { name: 'n1', revision: 1 }, spec: {} } as unknown as StoredObject)).toBe('/n1');
  });
});
