import { describe, expect, it } from 'vitest';
import { match } from './match.js';

describe('match', () => {
  it.each([
    ['/', '/', {}],
    ['/nodes', '/nodes', {}],
    ['/nodes/:name', '/nodes/n1', { name: 'n1' }],
    ['/projects/:project/instances/:name', '/projects/shop/instances/web', { project: 'shop', name: 'web' }],
    ['/nodes/:name', '/nodes/a%20b', { name: 'a b' }],
    ['/nodes/:name', '/nodes/n1/', { name: 'n1' }],
  ])('%s matches %s', (pattern, path, params) => {
    expect(match(pattern, path)).toEqual(params);
  });

  it.each([
    ['/nodes', '/'],
    ['/nodes/:name', '/nodes'],
    ['/nodes/:name', '/nodes/a/b'],
    ['/nodes/:name', '/instances/a'],
    ['/nodes/:name', '/nodes/%E0%A4%A'],
  ])('%s does not match %s', (pattern, path) => {
    expect(match(pattern, path)).toBeUndefined();
  });
});
