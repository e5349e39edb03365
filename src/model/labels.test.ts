import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { parseSelector, matches, formatSelector, dnsLabelProblem, SelectorError } from './labels.js';

describe('selectors', () => {
  const labels = { app: 'web', tier: 'front', env: 'prod' };
  it.each([
    ['', true],
    ['app=web', true],
    ['app==web', true],
    ['app!=web', false],
    ['app=web,tier=back', false],
    ['env in (prod, staging)', true],
    ['env notin (prod)', false],
    ['gpu', false],
    ['!gpu', true],
    ['missing!=x', true],          // absent keys are "not equal"
    ['missing notin (x)', true],
    ['example.com/team=a', false],
  ])('%s → %s', (text, want) => expect(matches(parseSelector(text), labels)).toBe(want));

  it.each([['a in (b'], ['a)'], ['a,,b'], ['bad key=1'], ['a=b c'], ['a in ()'], ['-a=1']])('refuses %j', (text) => {
    expect(() => parseSelector(text)).toThrow(SelectorError);
  });

  it('formats to a canonical text that parses to the same selector', () => {
    const key = fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/);
    const value = fc.stringMatching(/^[a-z0-9]{1,6}$/);
    const req = fc.oneof(
      fc.tuple(key, value).map(([k, v]) => `${k}=${v}`),
      fc.tuple(key, value).map(([k, v]) => `${k}!=${v}`),
      fc.tuple(key, fc.array(value, { minLength: 1, maxLength: 3 })).map(([k, vs]) => `${k} in (${vs.join(', ')})`),
      key.map((k) => `!${k}`),
      key,
    );
    fc.assert(fc.property(fc.array(req, { maxLength: 5 }), (reqs) => {
      const sel = parseSelector(reqs.join(','));
      expect(parseSelector(formatSelector(sel))).toEqual(sel);
    }), { seed: 7 });
  });
});

describe('dnsLabelProblem', () => {
  it.each([['web-1', undefined], ['a', undefined], ['Web', 'not a DNS label'], ['-a', 'not a DNS label'], ['a_b', 'not a DNS label'], ['', 'must not be empty'], ['a'.repeat(64), 'longer than 63']])('%j', (name, problem) => {
    const got = dnsLabelProblem(name);
    if (problem === undefined) expect(got).toBeUndefined();
    else expect(got).toContain(problem);
  });
});
