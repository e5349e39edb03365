import { describe, it, expect } from 'vitest';
import { collectionPath, itemPath, paths } from './paths.js';
import { ALL_KINDS, instanceKind, nodeKind, projectKind } from '../model/kinds/index.js';

describe('API paths from the kind descriptors', () => {
  it.each([
    [instanceKind, 'shop', '/v1/projects/shop/instances'],
    [instanceKind, undefined, '/v1/instances'],
    [nodeKind, 'shop', '/v1/nodes'],
    [projectKind, undefined, '/v1/projects'],
  ])('%s in %s: a collection', (kind, project, path) => {
    expect(collectionPath(kind, project)).toBe(path);
  });

  it('names objects, a project by its own name, and refuses a project kind without a project', () => {
    expect(itemPath(instanceKind, 'web', 'shop')).toBe('/v1/projects/shop/instances/web');
    expect(itemPath(nodeKind, 'n1')).toBe('/v1/nodes/n1');
    expect(itemPath(projectKind, 'shop')).toBe('/v1/projects/shop');
    expect(() => itemPath(instanceKind, 'web')).toThrow('no project given for instance "web"');
  });

  it('encodes what goes into a path', () => {
    expect(itemPath(nodeKind, 'a/b')).toBe('/v1/nodes/a%2Fb');
    expect(paths.instance('p', 'x y', 'logs')).toBe('/v1/projects/p/instances/x%20y/logs');
  });

  it('gives every kind the route the API serves: /v1/projects/:project/<plural> or /v1/<plural>', () => {
    for (const kind of ALL_KINDS) {
      const expected = kind.scope === 'project' ? `/v1/projects/p/${kind.plural}/x` : `/v1/${kind.plural}/x`;
      expect(itemPath(kind, 'x', 'p')).toBe(expected);
    }
  });
});
