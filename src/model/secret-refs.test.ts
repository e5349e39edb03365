import { describe, it, expect } from 'vitest';
import { parseObject } from './kind.js';
import { instanceKind, serviceKind } from './kinds/index.js';
import { parseProblems as problems } from './kinds/testing.js';
import { mountPathProblem, secretRefsOf, secretNamesOf } from './secret-refs.js';

const base = { kind: 'instance', metadata: { name: 'web' }, spec: { driver: 'process', command: ['sleep', '1'] } };

describe('secret references in instance specs', () => {
  it('takes env values from a secret key and mounts secrets as files', () => {
    const spec = { ...base.spec, env: { A: 'plain', DB: { valueFrom: { secret: 'db', key: 'password' } } }, secrets: [{ secret: 'tls' }, { secret: 'db', path: '/app/creds' }] };
    const parsed = parseObject(instanceKind, { ...base, spec });
    expect(secretRefsOf(parsed.spec as never)).toEqual([
      { secret: 'db', key: 'password', field: 'spec.env.DB.valueFrom' },
      { secret: 'tls', field: 'spec.secrets[0]' },
      { secret: 'db', field: 'spec.secrets[1]' },
    ]);
    expect(secretNamesOf(parsed.spec as never)).toEqual(['db', 'tls']);
  });

  it('refuses references to other projects, bad keys and malformed values, naming the field', () => {
    const spec = {
      ...base.spec,
      env: {
        X: { valueFrom: { secret: 'team-b/db', key: 'password' } },
        Y: { valueFrom: { secret: 'db', key: '../etc' } },
        Z: { valueFrom: { secret: 'db' } },
        W: 'x'.repeat(40000),
      },
    };
    const got = problems(instanceKind, { ...base, spec });
    expect(got).toContainEqual(expect.stringMatching(/^spec\.env\.Z: .*is neither a string nor \{valueFrom/));
    const fixed = { ...spec, env: { ...spec.env, Z: 'ok' } };
    const again = problems(instanceKind, { ...base, spec: fixed });
    expect(again).toContainEqual(expect.stringMatching(/^spec\.env\.X\.valueFrom\.secret: "team-b\/db" is not a DNS label.*name a secret of this project/));
    expect(again).toContainEqual(expect.stringMatching(/^spec\.env\.Y\.valueFrom\.key: "\.\.\/etc" is not a key name/));
    expect(again).toContainEqual('spec.env.W: is 40000 characters long; at most 32768 are allowed');
  });

  it('checks mount paths and their overlaps, also in service templates', () => {
    const svc = { kind: 'service', metadata: { name: 's' }, spec: { template: { spec: { ...base.spec, secrets: [{ secret: 'a', path: '/run/secrets/x' }, { secret: 'b', path: '/run/secrets/x/y' }, { secret: 'c', path: '/proc/self' }] } } } };
    expect(problems(serviceKind, svc)).toEqual([
      'spec.template.spec.secrets[1].path: "/run/secrets/x/y" overlaps "/run/secrets/x" of secrets[0]; give each secret a directory of its own',
      'spec.template.spec.secrets[2].path: "/proc/self" is in /proc, a system directory; mount secrets elsewhere, e.g. /run/secrets/NAME',
    ]);
  });

  it.each([
    ['/run/secrets/db', undefined],
    ['/app/config', undefined],
    ['/var/run/secrets/x', undefined],
    ['relative/path', /not an absolute path/],
    ['/run/secrets/../../etc', /not normalized/],
    ['/run/./secrets', /not normalized/],
    ['/run//secrets', /not a plain absolute path/],
    ['/run/secrets/', /not a plain absolute path/],
    ['/etc/app', /system directory/],
    ['/dev', /system directory/],
    ['/sys/fs/cgroup', /system directory/],
    ['/usr/local/x', /system directory/],
    ['/', /hide the whole directory/],
    ['/tmp', /hide the whole directory/],
    ['/run', /hide the whole directory/],
    ['/run/secrets/a b', /not a plain absolute path/],
  ])('mount path %s', (path, expected) => {
    const problem = mountPathProblem(path);
    if (expected === undefined) expect(problem).toBeUndefined();
    else expect(problem).toMatch(expected);
  });
});
