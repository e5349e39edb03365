import { describe, it, expect } from 'vitest';
import { diff, showChange, userPart } from './diff.js';
import { parseStackFile, waves } from './file.js';

describe('diff', () => {
  it('reports added, removed and changed fields with their paths', () => {
    const before = { spec: { replicas: 2, template: { spec: { command: ['a'], env: { X: '1' } } }, ports: [{ port: 80 }] } };
    const after = { spec: { replicas: 3, template: { spec: { command: ['a', 'b'], env: {} } }, ports: [{ port: 80 }, { port: 443 }] } };
    expect(diff(before, after).map(showChange)).toEqual([
      '+ spec.ports[1].port: 443',
      '~ spec.replicas: 2 → 3',
      '~ spec.template.spec.command: ["a"] → ["a","b"]',
      '+ spec.template.spec.env: {}',
      '- spec.template.spec.env.X: "1"',
    ]);
    expect(diff(before, structuredClone(before))).toEqual([]);
  });
  it('compares only what users control', () => {
    const o = { metadata: { name: 'x', revision: 3, labels: { a: '1' } }, spec: { k: 1 }, status: { phase: 'Running' } };
    expect(userPart(o)).toEqual({ metadata: { labels: { a: '1' }, annotations: {} }, spec: { k: 1 } });
  });
});

describe('parseStackFile', () => {
  const file = `
name: shop
parameters: {replicas: 2, port: "8080"}
services:
  web:
    replicas: \${replicas}
    labels: {tier: web}
    template: {driver: process, command: [python3, -m, http.server, "\${port}"]}
    dependsOn: [cache]
  cache:
    template: {driver: process, command: [redis-server]}
instances:
  job: {driver: process, command: [echo, hi], restartPolicy: never, dependsOn: [web]}
`;
  it('reads the compact form, substitutes parameters with their types, and orders by dependsOn', () => {
    const s = parseStackFile(file, 'f.yaml', { replicas: '3' });
    expect(s.name).toBe('shop');
    const web = s.objects.find((o) => o.name === 'web')!;
    expect(web.body).toMatchObject({ kind: 'service', metadata: { name: 'web', labels: { tier: 'web' } }, spec: { replicas: 3, template: { metadata: { labels: { tier: 'web' } }, spec: { command: ['python3', '-m', 'http.server', '8080'] } } } });
    expect(waves(s.objects).map((w) => w.map((o) => o.name))).toEqual([['cache'], ['web'], ['job']]);
    expect(web.path('spec.template.spec.resources.memory')).toBe('f.yaml:8: services.web.template.resources.memory'); // the template's line
    expect(s.objects.find((o) => o.name === 'job')!.path('spec.restartPolicy')).toBe('f.yaml:13: instances.job.restartPolicy');
  });
  it('reads full objects and resources lists, normalizing kind names', () => {
    const got = parseStackFile('kind: Instance\nmetadata: {name: a}\nspec: {}\n---\nresources:\n  - {kind: inst, metadata: {name: b}, spec: {}}\n  - {kind: node, metadata: {name: n}, spec: {}}\n', 'f.yaml', {});
    expect(got.objects.map((o) => `${o.kind.kind}/${o.name}`)).toEqual(['instance/a', 'instance/b', 'node/n']);
    expect(got.objects[0]!.path('spec.command')).toBe('f.yaml:3: instance/a spec.command');
    expect(got.objects[1]!.path('spec.command')).toBe('f.yaml:6: instance/b spec.command');
  });

  it.each([
    ['services:\n  a: {template: {}, dependsOn: [b]}\n  b: {template: {}, dependsOn: [a]}\n', /dependsOn cycle: a → b → a/],
    ['services:\n  a: {template: {}, dependsOn: [ghost]}\n', /services\.a\.dependsOn: "ghost" is not defined/],
    ['services:\n  a: {replicas: "${n}", template: {}}\n', /services\.a\.replicas: parameter \$\{n\} has no value/],
    ['kind: gadget\nmetadata: {name: g}\n', /unknown kind "gadget"/],
    ['name: x\nwidgets: {}\n', /unknown top-level field "widgets"/],
    ['services: [1, 2]\n', /services must map names to definitions/],
    ['name: Bad_Name\n', /is not a DNS label/],
    ['a: [unclosed\n', /f\.yaml:\d+:\d+: YAML syntax error/],
    ['metadata: {name: w}\n', /kind is required/],
    ['kind: instance\nspec: {}\n', /metadata\.name is required/],
    ['- 1\n- 2\n', /expected an object/],
  ])('explains %j', (text, want) => expect(() => parseStackFile(text, 'f.yaml', {})).toThrow(want));
});
