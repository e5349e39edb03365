import { describe, it, expect } from 'vitest';
import { mergePatch } from './patch.js';
import { jsonDepth, valueDepth } from './depth.js';

describe('mergePatch (RFC 7386 examples)', () => {
  it.each([
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
  ])('%j + %j', (target, patch, want) => expect(mergePatch(target, patch)).toEqual(want));
});

describe('nesting depth', () => {
  it.each([['1', 0], ['{}', 1], ['[[[]]]', 3], ['{"a":"[[[["}', 1], ['["\\"[", [1]]', 2]])('%s → %d', (text, d) => {
    expect(jsonDepth(text)).toBe(d);
    expect(valueDepth(JSON.parse(text))).toBe(d);
  });
  it('stops counting at the limit', () => expect(jsonDepth('['.repeat(100000), 65)).toBe(65));
});
