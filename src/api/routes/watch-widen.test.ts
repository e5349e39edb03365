import { describe, it, expect } from 'vitest';
import { Widening } from './watch-widen.js';
import type { StoredObject } from '../../model/kind.js';

const obj = (name: string, revision: number): StoredObject => ({ kind: 'instance', metadata: { name, project: 'p', uid: name, revision, generation: 1, createdAt: '' }, spec: {} });
const put = (name: string, revision: number) => ({ type: 'put' as const, object: obj(name, revision), revision, created: false });

describe('widening a watch', () => {
  it('sends what the list found, then the held events the list did not cover, in order', async () => {
    const out: string[] = [];
    let release!: (items: StoredObject[]) => void;
    const w = new Widening({
      list: () => new Promise((r) => (release = r)),
      put: (o) => out.push(`list ${o.metadata.name}@${o.metadata.revision}`),
      deliver: (e) => out.push(`${e.type} ${e.object.metadata.name}@${e.revision}`),
      fail: (e) => out.push(`fail ${e.message}`),
    });
    expect(w.hold(put('x', 1))).toBe(false); // nothing runs: the stream delivers it
    w.widen('p');
    expect(w.busy).toBe(true);
    expect(w.hold(put('a', 10))).toBe(true); // changed before the list read it: covered
    expect(w.hold(put('b', 12))).toBe(true); // changed after: delivered after the list
    expect(w.hold({ type: 'delete', object: obj('c', 13), revision: 13 })).toBe(true);
    release([obj('a', 10), obj('b', 11), obj('c', 9)]);
    await new Promise((r) => setImmediate(r));
    expect(out).toEqual(['list a@10', 'list b@11', 'list c@9', 'put b@12', 'delete c@13']);
    expect(w.busy).toBe(false);
    expect(w.hold(put('d', 14))).toBe(false);
  });

  it('gives up with fail when the list fails', async () => {
    const out: string[] = [];
    const w = new Widening({ list: async () => { throw new Error('store closed'); }, put: () => undefined, deliver: () => undefined, fail: (e) => out.push(e.message) });
    w.widen('p');
    await new Promise((r) => setImmediate(r));
    expect(out).toEqual(['store closed']);
  });
});
