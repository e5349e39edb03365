import { describe, it, expect, beforeEach } from 'vitest';
import { MemoryBackend } from '../store/memory.js';
import { Repository } from '../store/repository.js';
import { FakeClock, sequentialIds } from '../model/runtime.js';
import { instanceKind, projectKind, serviceKind, userKind } from '../model/kinds/index.js';
import type { Kind, StoredObject } from '../model/kind.js';
import type { User } from '../model/kinds/user.js';
import type { StratusError } from '../model/errors.js';
import { principalOf } from './auth.js';
import { Admission, type AdmissionRequest } from './admission.js';
import { platformAdmission } from './platform-admission.js';
import { guardKeys } from '../model/keyspace.js';

let repo: Repository;
let admission: Admission;
const admin = principalOf({ kind: 'token', metadata: { name: 't', uid: 't', revision: 1, generation: 1, createdAt: '' }, spec: { clusterAdmin: true } }, undefined);

async function refusal(req: Omit<AdmissionRequest, 'principal'>): Promise<string> {
  try {
    await admission.admit({ ...req, principal: admin });
  } catch (e) {
    return `${(e as StratusError).status} ${(e as Error).message}`;
  }
  return 'admitted';
}

const create = (kind: Kind, spec: unknown, project = 'team-a') => ({ op: 'create' as const, kind, name: 'x', project, object: { metadata: { name: 'x' }, spec } });

beforeEach(async () => {
  repo = new Repository(new MemoryBackend(), new FakeClock(), sequentialIds());
  admission = new Admission(repo, platformAdmission());
  await repo.create(projectKind, { metadata: { name: 'team-a' }, spec: {} });
  await repo.create(projectKind, { metadata: { name: 'edge' }, spec: { hostPorts: '22,80,8000-9000' } });
});

describe('reserved env', () => {
  it('refuses STRATUS_ names in instances and service templates, naming the field', async () => {
    expect(await refusal(create(instanceKind, { env: { STRATUS_NODE: 'x' } }))).toBe('400 spec.env.STRATUS_NODE: names starting with STRATUS_ are reserved for the platform; choose another name');
    expect(await refusal(create(serviceKind, { template: { spec: { env: { OK: '1', STRATUS_IP: 'x' } } } }))).toMatch(/^400 spec\.template\.spec\.env\.STRATUS_IP: names starting with STRATUS_/);
    expect(await refusal(create(instanceKind, { env: { MY_STRATUS_X: '1', stratus_lower: '1' } }))).toBe('admitted');
  });
});

describe('published ports', () => {
  it('takes ports in the node-port range, refuses others naming the field and the range', async () => {
    expect(await refusal(create(instanceKind, { ports: [{ port: 80, publish: 30080 }] }))).toBe('admitted');
    expect(await refusal(create(instanceKind, { ports: [{ port: 80 }, { port: 22, publish: 22 }] }))).toMatch(
      /^403 spec\.ports\[1\]\.publish: host port 22 is outside the published port range 30000-32767; .*project spec\.hostPorts/,
    );
    expect(await refusal(create(serviceKind, { ports: [{ port: 80, publish: 8080 }], template: { spec: {} } }))).toMatch(/^403 spec\.ports\[0\]\.publish: host port 8080/);
    expect(await refusal(create(serviceKind, { template: { spec: { ports: [{ port: 80, publish: 80 }] } } }))).toMatch(/^403 spec\.template\.spec\.ports\[0\]\.publish/);
  });

  it('takes the ports a cluster admin allowed the project', async () => {
    expect(await refusal(create(instanceKind, { ports: [{ port: 22, publish: 22 }, { port: 81, publish: 8500 }] }, 'edge'))).toBe('admitted');
    expect(await refusal(create(instanceKind, { ports: [{ port: 81, publish: 81 }] }, 'edge'))).toMatch(/outside the published port range 30000-32767 or 22,80,8000-9000 \(allowed for project "edge"\)/);
  });

  it('uses the range it is given', async () => {
    admission = new Admission(repo, platformAdmission({ nodePortRange: [40000, 40010] }));
    expect(await refusal(create(instanceKind, { ports: [{ port: 80, publish: 30080 }] }))).toMatch(/outside the published port range 40000-40010/);
  });
});

describe('the last cluster admin', () => {
  const user = (name: string, spec: User['spec']) => repo.create<User>(userKind, { metadata: { name }, spec });
  const update = (prev: StoredObject, spec: User['spec']) => ({ op: 'update' as const, kind: userKind, name: prev.metadata.name, prev, object: { metadata: { name: prev.metadata.name }, spec } });

  it('refuses deleting, disabling or demoting it, and allows it once another admin exists', async () => {
    const root = await user('root', { clusterAdmin: true });
    await user('bob', { clusterAdmin: true, disabled: true }); // disabled admins do not count
    expect(await refusal({ op: 'delete', kind: userKind, name: 'root', prev: root })).toBe('409 cannot delete user "root": it is the last enabled cluster admin; make another user a cluster admin first (stratus user create NAME --cluster-admin)');
    expect(await refusal(update(root, { clusterAdmin: true, disabled: true }))).toMatch(/^409 cannot disable user "root"/);
    expect(await refusal(update(root, {}))).toMatch(/^409 cannot demote user "root"/);
    expect(await refusal(update(root, { clusterAdmin: true, roles: [{ project: 'a', role: 'viewer' }] }))).toBe('admitted');
    await user('carol', { clusterAdmin: true });
    expect(await refusal(update(root, {}))).toBe('admitted');
  });

  it('guards the write so that two admins cannot demote each other at once', async () => {
    const root = await user('root', { clusterAdmin: true });
    await user('carol', { clusterAdmin: true });
    const guards = await admission.admit({ op: 'delete', kind: userKind, name: 'root', prev: root, principal: admin });
    expect(guards).toEqual([{ op: 'put', key: guardKeys.clusterAdmins, value: expect.any(String), expectRevision: 0 }]);
    await repo.backend.txn(guards); // the other write went first
    await expect(repo.delete(userKind, 'root', undefined, { extraOps: guards })).rejects.toMatchObject({ code: 'STRATUS_ERR_CONFLICT' });
  });
});
