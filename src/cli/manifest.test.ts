import { describe, it, expect } from 'vitest';
import { parseManifests } from './manifest.js';

describe('parseManifests', () => {
  it('reads several documents and a resources list, normalizing kind names', () => {
    const got = parseManifests('kind: Instance\nmetadata: {name: a}\nspec: {}\n---\nresources:\n  - {kind: inst, metadata: {name: b}, spec: {}}\n  - {kind: node, metadata: {name: n}, spec: {}}\n', 'f.yaml');
    expect(got.map((m) => `${m.kind.kind}/${(m.body.metadata as { name: string }).name}`)).toEqual(['instance/a', 'instance/b', 'node/n']);
  });
  it.each([
    ['kind: instance\nmetadata:\n  name: [x\n', /^f\.yaml:\d+:\d+: YAML syntax error/],
    ['kind: widget\nmetadata: {name: w}\n', /^f\.yaml:1: unknown kind "widget"/],
    ['metadata: {name: w}\n', /kind is required/],
    ['kind: instance\nspec: {}\n', /metadata\.name is required/],
    ['- 1\n- 2\n', /expected an object/],
  ])('explains %j', (text, want) => expect(() => parseManifests(text, 'f.yaml')).toThrow(want));
});
