import { describe, it, expect } from 'vitest';
import type { InstanceSpec } from '../../model/kinds/instance.js';
import { materialize, resolveSecrets } from './secrets.js';
import type { ApiClient } from '../../client/index.js';
import type { InstanceSecrets } from '../../client/routes.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const spec = (extra: Partial<InstanceSpec>): InstanceSpec => ({ driver: 'process', command: ['app'], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10, ...extra });
const got: InstanceSecrets = { items: [{ name: 'db', data: { password: b64('hunter2'), user: b64('app') } }, { name: 'tls', data: { 'tls.key': b64(Buffer.from([0, 1, 2])) } }] };

describe('materialize', () => {
  it('gives the driver plain strings and one 0400 file per key of each mounted secret', () => {
    const s = spec({ env: { MODE: 'prod', DB_PASSWORD: { valueFrom: { secret: 'db', key: 'password' } } }, secrets: [{ secret: 'tls' }, { secret: 'db', path: '/app/db' }] });
    const out = materialize(s, got);
    expect(out.spec.env).toEqual({ MODE: 'prod', DB_PASSWORD: 'hunter2' });
    expect(Object.values(out.spec.env!).every((v) => typeof v === 'string')).toBe(true);
    expect(out.files).toEqual([
      { path: '/run/secrets/tls/tls.key', data: b64(Buffer.from([0, 1, 2])), mode: 0o400 },
      { path: '/app/db/password', data: b64('hunter2'), mode: 0o400 },
      { path: '/app/db/user', data: b64('app'), mode: 0o400 },
    ]);
  });

  it('names the field, secret and key when something is missing, never the value', () => {
    expect(() => materialize(spec({ env: { X: { valueFrom: { secret: 'db', key: 'nope' } } } }), got)).toThrow('spec.env.X: secret "db" has no key "nope"');
    expect(() => materialize(spec({ secrets: [{ secret: 'gone' }] }), got)).toThrow('spec.secrets[0]: secret "gone" was not found');
  });

  it('refuses values that cannot be environment variables', () => {
    const bin: InstanceSecrets = { items: [{ name: 's', data: { nul: b64('a\0b'), raw: b64(Buffer.from([0xff])) } }] };
    expect(() => materialize(spec({ env: { X: { valueFrom: { secret: 's', key: 'nul' } } } }), bin)).toThrow(/NUL byte.*mount the secret as files/);
    expect(() => materialize(spec({ env: { X: { valueFrom: { secret: 's', key: 'raw' } } } }), bin)).toThrow(/not UTF-8/);
  });

  it('asks the control plane only when the spec references secrets', async () => {
    const asked: string[] = [];
    const api = { request: async (method: string, path: string) => (asked.push(`${method} ${path}`), got) } as unknown as ApiClient;
    const inst = (s: InstanceSpec) => ({ kind: 'instance', metadata: { name: 'web', project: 'p', uid: 'u', revision: 1, generation: 1, createdAt: '' }, spec: s });
    await resolveSecrets(inst(spec({ env: { A: 'b' } })), api);
    expect(asked).toEqual([]);
    const out = await resolveSecrets(inst(spec({ env: { P: { valueFrom: { secret: 'db', key: 'user' } } } })), api);
    expect(asked).toEqual(['GET /v1/projects/p/instances/web/secrets']);
    expect(out.spec.env).toEqual({ P: 'app' });
  });
});
