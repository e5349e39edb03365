import { describe, it, expect } from 'vitest';
import { parseObject } from '../kind.js';
import { ValidationError, type FieldProblem } from '../errors.js';
import { secretKind } from './index.js';
import { keyVersions, nextValues, revealedSpec, specOfPatch, valuesOf, type SecretSpec } from './secret.js';

const VALUE = 'hunter2-do-not-echo';

function problemsOf(spec: unknown): FieldProblem[] {
  try {
    parseObject(secretKind, { kind: 'secret', metadata: { name: 'db' }, spec });
    return [];
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    return e.problems;
  }
}

const map = (o: Record<string, string>) => new Map(Object.entries(o).map(([k, v]) => [k, Buffer.from(v)]));

describe('secret spec', () => {
  it('takes text under data and base64 under binaryData', () => {
    const spec = parseObject(secretKind, { kind: 'secret', metadata: { name: 'db' }, spec: { data: { password: VALUE }, binaryData: { 'cert.der': Buffer.from([0, 255, 1]).toString('base64') } } }).spec as SecretSpec;
    const values = valuesOf(spec);
    expect(values.get('password')!.toString()).toBe(VALUE);
    expect([...values.get('cert.der')!]).toEqual([0, 255, 1]);
  });

  it('refuses bad keys, bad base64, a key given twice and oversize values, never quoting a value', () => {
    const got = problemsOf({ data: { 'a/b': VALUE, dup: VALUE }, binaryData: { dup: 'QUJD', bin: VALUE } });
    expect(got.map((p) => p.path).sort()).toEqual(['spec.binaryData.bin', 'spec.binaryData.dup', 'spec.data.a/b']);
    expect(JSON.stringify(got)).not.toContain(VALUE);
    const big = problemsOf({ data: { a: 'x'.repeat(300 * 1024), b: 'y'.repeat(300 * 1024) } });
    expect(big).toEqual([{ path: 'spec', message: `values total ${600 * 1024} bytes; at most ${512 * 1024} are allowed` }]);
  });

  it('keeps listed keys, sets given ones, drops the rest; no field at all keeps everything', () => {
    const current = map({ a: '1', b: '2', c: '3' });
    const problems: FieldProblem[] = [];
    const next = nextValues(current, { keys: { a: 1 }, data: { b: 'two' } }, problems);
    expect(Object.fromEntries([...next].map(([k, v]) => [k, v.toString()]))).toEqual({ a: '1', b: 'two' });
    expect(problems).toEqual([]);
    expect([...nextValues(current, {}, problems).keys()]).toEqual(['a', 'b', 'c']);
    nextValues(current, { keys: { zzz: 1 } }, problems);
    expect(problems.map((p) => p.path)).toEqual(['spec.keys.zzz']);
  });

  it('versions: a changed or new key takes the write\'s generation, an unchanged one keeps its version', () => {
    const current = map({ a: '1', b: '2' });
    const next = map({ a: '1', b: 'changed', c: 'new' });
    expect(keyVersions({ a: 1, b: 1 }, current, next, 4)).toEqual({ a: 1, b: 4, c: 4 });
  });

  it('turns a merge patch into a replacement: null removes, strings set, other keys stay', () => {
    const problems: FieldProblem[] = [];
    expect(specOfPatch({ data: { b: 'new', c: null }, keys: { a: null } }, ['a', 'b', 'c', 'd'], problems)).toEqual({ keys: { d: 1 }, data: { b: 'new' } });
    specOfPatch({ data: { x: 5 }, other: {} }, [], problems);
    expect(problems.map((p) => p.path)).toEqual(['spec.data.x', 'spec.other']);
    expect(JSON.stringify(problems)).not.toContain('5');
  });

  it('reveals text as data and other bytes as base64 binaryData', () => {
    expect(revealedSpec(new Map([['t', Buffer.from('text')], ['b', Buffer.from([0xff, 0xfe])]]))).toEqual({ data: { t: 'text' }, binaryData: { b: '//4=' } });
  });
});
