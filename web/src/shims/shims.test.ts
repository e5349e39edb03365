import { describe, expect, it } from 'vitest';
import { posix } from 'node:path';
import { Type } from '@sinclair/typebox';
import { TypeCompiler as Compiled } from '@sinclair/typebox/compiler';
import { posix as shim } from './node-path.js';
import { TypeCompiler as Interpreted } from './typebox-compiler.js';
import { instanceKind } from '../../../src/model/kinds/index.js';

describe('the browser stand-ins give what the Node modules give', () => {
  it.each(['', '.', '/', '//', 'a', 'a/', '/a/b', '/a//b', '/a/./b', '/a/../b', '../a', 'a/../..', '/..', '/a/b/../../..', 'a/./b/', './a', '/etc/app.conf', 'conf/../../x'])('posix.normalize(%j)', (p) => {
    expect(shim.normalize(p)).toBe(posix.normalize(p));
  });

  it('TypeCompiler checks and reports like the compiled one, without generated code', () => {
    const schema = Type.Object({ a: Type.Integer({ minimum: 1 }), b: Type.Optional(Type.String({ maxLength: 2 })) }, { additionalProperties: false });
    for (const value of [{ a: 1 }, { a: 0 }, { a: 1, b: 'xyz' }, { c: 1 }, 'no', { a: 1.5, b: 3 }]) {
      const want = Compiled.Compile(schema);
      const got = Interpreted.Compile(schema);
      expect(got.Check(value)).toBe(want.Check(value));
      expect([...got.Errors(value)].map((e) => [e.path, e.type])).toEqual([...want.Errors(value)].map((e) => [e.path, e.type]));
    }
  });

  it('reports an instance spec problem in the API\'s words', () => {
    const spec = { driver: 'process', command: ['x'], resources: { memory: '12Qi' } };
    const got = [...Interpreted.Compile(instanceKind.spec).Errors(spec)].map((e) => e.path);
    expect(got).toEqual([...Compiled.Compile(instanceKind.spec).Errors(spec)].map((e) => e.path));
    expect(got.length).toBeGreaterThan(0);
  });
});
