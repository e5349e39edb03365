import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { metadataSpan, StoredText, withRevision } from './raw-json.js';

/** What the repository's decode + the API's JSON.stringify give: the reference for splicing. */
function decoded(value: string, rev: number): string {
  const obj = JSON.parse(value) as { metadata: Record<string, unknown> };
  obj.metadata.revision = rev;
  return JSON.stringify(obj);
}

const text = fc.string({ unit: 'binary', maxLength: 12 });
const tricky = fc.constantFrom('"', '\\', '}', '{', ']', '[', ',', ':', '"revision":1', '\\"}', '\u2028', '\ud800', '"metadata":{');
const str = fc.oneof(text, tricky, fc.tuple(text, tricky, text).map((p) => p.join('')));
const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ maxDepth: 3 }, str, fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(str, tie('value'), { maxKeys: 3 })),
})).value;
const metadata = fc.record({
  name: str,
  labels: fc.option(fc.dictionary(str, str, { maxKeys: 3 }), { nil: undefined }),
  annotations: fc.option(fc.dictionary(str, str, { maxKeys: 3 }), { nil: undefined }),
  uid: str,
  generation: fc.integer(),
  extra: fc.option(json, { nil: undefined }),
}, { requiredKeys: ['name'] });
/** Objects as the repository writes them (kind, metadata, spec, status), and in other key orders. */
const stored = fc.tuple(str, metadata, json, fc.option(json, { nil: undefined }), fc.boolean()).map(([kind, meta, spec, status, specFirst]) =>
  JSON.stringify(specFirst ? { spec: { metadata: spec }, kind, metadata: meta, status } : { kind, metadata: meta, spec, status }),
);

describe('withRevision', () => {
  it('gives exactly JSON.stringify of the decoded object with its revision', () => {
    fc.assert(fc.property(stored, fc.nat(), (value, rev) => {
      expect(withRevision(value, rev)).toBe(decoded(value, rev));
    }), { numRuns: 2000 });
  });

  it('splices into metadata that holds only a name, and after nested objects', () => {
    const value = JSON.stringify({ kind: 'instance', metadata: { name: 'a', labels: { x: '}' } }, spec: { metadata: { revision: 9 } } });
    expect(withRevision(value, 12)).toBe('{"kind":"instance","metadata":{"name":"a","labels":{"x":"}"},"revision":12},"spec":{"metadata":{"revision":9}}}');
    expect(withRevision('{"metadata":{}}', 3)).toBe('{"metadata":{"revision":3}}');
  });

  it('refuses text it does not understand, or whose metadata names a revision already', () => {
    for (const value of ['', '[]', '{}', '{"kind":"x"}', '{"metadata":[1]}', '{ "metadata":{}}', '{"metadata":{"revision":1}}', '{"kind":"x","metadata":{"name":"a"', '{"kind":"\\', '"x"']) {
      expect(withRevision(value, 1), value).toBeUndefined();
    }
    expect(metadataSpan('{"kind":"instance","metadata":{"name":"a"},"spec":{}}')).toEqual({ start: 30, end: 42 });
  });
});

describe('StoredText', () => {
  it('reads metadata without the rest, and falls back to decoding text it cannot splice', () => {
    fc.assert(fc.property(stored, fc.nat(), (value, rev) => {
      const t = new StoredText('/k', value, rev);
      const obj = JSON.parse(decoded(value, rev)) as { metadata: unknown; spec: unknown };
      expect(t.metadata).toEqual(obj.metadata);
      expect(t.json).toBe(decoded(value, rev));
      expect(t.spec).toEqual(obj.spec);
    }), { numRuns: 500 });
    const odd = new StoredText('/k', '{ "kind": "x", "metadata": { "name": "a", "revision": 2 } }', 7);
    expect(odd.json).toBe('{"kind":"x","metadata":{"name":"a","revision":7}}');
    expect(odd.metadata.revision).toBe(7);
  });
});
