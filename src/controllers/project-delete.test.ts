import { describe, it, expect } from 'vitest';
import { MemoryBackend } from '../store/memory.js';
import { Repository } from '../store/repository.js';
import { FakeClock, sequentialIds } from '../model/runtime.js';
import { instanceKind, projectKind, secretKind } from '../model/kinds/index.js';
import { deletionOf } from '../model/kind.js';
import type { Project } from '../model/kinds/project.js';
import { Admission } from '../policy/admission.js';
import { AuditLog } from '../policy/audit.js';
import type { SecretData } from '../policy/secret-data.js';
import { ProjectDeleteController } from './project-delete.js';

const spec = { driver: 'process', command: ['x'], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10 };

/** A project "p" marked Deleting, holding two instances and a secret; its sealed values' delete fails while `failing` says so. */
async function setup() {
  const backend = new MemoryBackend();
  const clock = new FakeClock();
  const repo = new Repository(backend, clock, sequentialIds());
  await repo.create(projectKind, { metadata: { name: 'p' }, spec: {} });
  for (const name of ['a', 'b']) await repo.create(instanceKind, { metadata: { name, project: 'p' }, spec });
  await repo.create(secretKind, { metadata: { name: 's', project: 'p' }, spec: {} });
  await repo.update<Project>(projectKind, 'p', undefined, (p) => ({ ...p, status: { ...p.status, phase: 'Deleting', deletion: { startedAt: '2026-01-01T00:00:00Z', waitingFor: [] } } }));
  const fault = { failing: true };
  const secrets = { deleteOps: async () => { if (fault.failing) throw new Error('the sealed store is unavailable'); return []; } } as unknown as SecretData;
  const controller = new ProjectDeleteController(repo, { audit: new AuditLog(backend, clock, sequentialIds()), secrets, admission: new Admission(repo) });
  return { repo, controller, fault };
}

describe('ProjectDeleteController', () => {
  it('deletes what it can, says what it still waits for and why, and finishes once it can', async () => {
    const { repo, controller, fault } = await setup();
    expect(await controller.reconcile('p')).toBe(false);
    const stuck = await repo.get<Project>(projectKind, 'p');
    expect(stuck.status?.phase).toBe('Deleting');
    expect(deletionOf(stuck)).toEqual({
      startedAt: '2026-01-01T00:00:00Z',
      waitingFor: [{ kind: 'secret', count: 1, names: ['s'] }],
      message: 'refused: secret/s: the sealed store is unavailable',
    });
    expect((await repo.list(instanceKind, { project: 'p' })).items).toEqual([]);

    fault.failing = false;
    expect(await controller.reconcile('p')).toBe(true);
    expect(await repo.find(projectKind, 'p')).toBeUndefined();
    expect(await repo.find(secretKind, 's', 'p')).toBeUndefined();
  });

  it('leaves a project that is not being deleted alone', async () => {
    const { repo, controller } = await setup();
    await repo.update<Project>(projectKind, 'p', undefined, (p) => ({ ...p, status: { phase: 'Active' } }));
    expect(await controller.reconcile('p')).toBe(true);
    expect((await repo.list(instanceKind, { project: 'p' })).items).toHaveLength(2);
  });
});
