import { describe, expect, it } from 'vitest';
import { parsePortPair } from './port-forward.js';
import { parseSpec } from './cp.js';
import { exitCodeOf } from './exec.js';

describe('port-forward port pairs', () => {
  it.each([
    ['8080', { local: 8080, remote: 8080 }],
    ['9000:80', { local: 9000, remote: 80 }],
    [':80', { local: 0, remote: 80 }],
  ])('%s', (spec, want) => expect(parsePortPair(spec)).toEqual(want));

  it.each(['0', '70000', '1:70000', 'a:80', '80:', '', '1.2.3.4:80:80'])('refuses %j', (spec) => {
    expect(() => parsePortPair(spec)).toThrow(/not a port pair/);
  });
});

describe('cp paths', () => {
  it.each([
    ['web-1:/work/x', { instance: 'web-1', path: '/work/x' }],
    ['web:rel/a:b', { instance: 'web', path: 'rel/a:b' }],
    ['./web:x', { path: './web:x' }],
    ['/tmp/a:b', { path: '/tmp/a:b' }],
    ['Web:x', { path: 'Web:x' }],
    ['web:', { path: 'web:' }],
  ])('%s', (arg, want) => expect(parseSpec(arg)).toEqual(want));
});

describe('exec exit codes', () => {
  it.each([
    [{ exitCode: 0 }, 0],
    [{ exitCode: 7 }, 7],
    [{ exitCode: null, signal: 'SIGKILL' }, 137],
    [{ exitCode: null, signal: 'SIGTERM' }, 143],
  ])('%j → %i', (status, code) => expect(exitCodeOf(status)).toBe(code));
});
