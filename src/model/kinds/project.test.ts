import { describe, it, expect } from 'vitest';
import { formatPortRanges, inPortRanges, parsePortRanges } from './project.js';
import { parseObject } from '../kind.js';
import { projectKind } from './index.js';

describe('host port ranges', () => {
  it.each([
    ['22,80,8000-9000', [[22, 22], [80, 80], [8000, 9000]]],
    [' 30000-32767 ', [[30000, 32767]]],
    ['', []],
    ['0', undefined],
    ['9000-8000', undefined],
    ['80-70000', undefined],
    ['http', undefined],
    ['1-2-3', undefined],
  ])('%j → %j', (text, ranges) => {
    expect(parsePortRanges(text)).toEqual(ranges);
  });

  it('matches and prints ranges', () => {
    const r = parsePortRanges('22,8000-9000')!;
    expect([21, 22, 7999, 8000, 9000, 9001].map((p) => inPortRanges(p, r))).toEqual([false, true, false, true, true, false]);
    expect(formatPortRanges(r)).toBe('22,8000-9000');
  });

  it('refuses a project whose spec.hostPorts is not a list of ranges', () => {
    expect(() => parseObject(projectKind, { kind: 'project', metadata: { name: 'p' }, spec: { hostPorts: '22,ssh' } })).toThrow(/^spec\.hostPorts: is not a list of ports and ranges/);
  });
});
