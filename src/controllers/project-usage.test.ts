import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { MemoryBackend } from '../store/memory.js';
import { Repository } from '../store/repository.js';
import { FakeClock, sequentialIds } from '../model/runtime.js';
import { instanceKind, projectKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Project } from '../model/kinds/project.js';
import { ProjectUsageController } from './project-usage.js';

let repo: Repository;
let ctl: ProjectUsageController;

const instance = (name: string, cpu: number, memory: number) => repo.create<Instance>(instanceKind, {
  metadata: { name, project: 'p' },
  spec: { driver: 'process', command: ['x'], resources: { cpu, memory, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10 },
});

async function usageBecomes(want: Project['status'] extends infer S ? S extends { usage?: infer U } ? U : never : never): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const got = (await repo.get<Project>(projectKind, 'p')).status?.usage;
    if (JSON.stringify(got) === JSON.stringify(want)) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  expect((await repo.get<Project>(projectKind, 'p')).status?.usage).toEqual(want);
}

beforeEach(async () => {
  repo = new Repository(new MemoryBackend(), new FakeClock(), sequentialIds());
  await repo.create(projectKind, { metadata: { name: 'p' }, spec: { quotas: { cpu: 8000 } } });
  ctl = new ProjectUsageController(repo, { flushMs: 1 });
});

afterEach(() => ctl.stop());

describe('ProjectUsageController', () => {
  it('fills status.usage at start and keeps it current as instances come, finish and go', async () => {
    await instance('a', 500, 256);
    await ctl.start();
    expect((await repo.get<Project>(projectKind, 'p')).status?.usage).toEqual({ cpu: 500, memory: 256, disk: 0, gpu: 0, instances: 1 });
    const b = await instance('b', 1000, 64);
    await usageBecomes({ cpu: 1500, memory: 320, disk: 0, gpu: 0, instances: 2 });
    await repo.setStatus(instanceKind, b, { phase: 'Succeeded' }); // finished: counts for nothing
    await usageBecomes({ cpu: 500, memory: 256, disk: 0, gpu: 0, instances: 1 });
    await repo.delete(instanceKind, 'a', 'p');
    await usageBecomes({ cpu: 0, memory: 0, disk: 0, gpu: 0, instances: 0 });
    expect((await repo.get<Project>(projectKind, 'p')).spec.quotas).toEqual({ cpu: 8000 }); // the spec is left alone
  });
});
