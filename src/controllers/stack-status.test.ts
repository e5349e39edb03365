import { describe, it, expect, afterEach } from 'vitest';
import { MemoryBackend } from '../store/memory.js';
import { Repository } from '../store/repository.js';
import { FakeClock, sequentialIds } from '../model/runtime.js';
import { serviceKind, stackKind } from '../model/kinds/index.js';
import { APPLIED_ANNOTATION, STACK_LABEL, type Stack } from '../model/kinds/stack.js';
import type { Service } from '../model/kinds/service.js';
import { StackStatusController, stackStatus } from './stack-status.js';

const meta = { uid: 'u', revision: 1, generation: 1, createdAt: '2026-01-01T00:00:00Z' };
const stack = (annotations: Record<string, string> = {}): Stack => ({ kind: 'stack', metadata: { ...meta, name: 'shop', project: 'p', annotations }, spec: { objects: [] } });
const service = (name: string, phase: 'Progressing' | 'Available' | 'Degraded', message?: string): Service =>
  ({ kind: 'service', metadata: { ...meta, name, project: 'p' }, spec: {}, status: { phase, ...(message ? { message } : {}) } }) as unknown as Service;

describe('stackStatus', () => {
  it.each([
    [[], 'Applied', '0 services available'],
    [[service('web', 'Available'), service('db', 'Available')], 'Applied', '2 services available'],
    [[service('web', 'Available'), service('db', 'Progressing')], 'Applying', 'rolling out: db'],
    [[service('web', 'Degraded', 'revision 2 failed: ...'), service('db', 'Progressing')], 'Failed', 'service web: revision 2 failed: ...'],
  ] as const)('%#: %s', (services, phase, message) => {
    expect(stackStatus(stack(), [...services])).toEqual({ phase, message, appliedAt: meta.createdAt });
  });

  it('says when apply last applied it', () => {
    expect(stackStatus(stack({ [APPLIED_ANNOTATION]: '2026-02-01T00:00:00Z' }), []).appliedAt).toBe('2026-02-01T00:00:00Z');
  });
});

describe('StackStatusController', () => {
  let ctl: StackStatusController | undefined;
  afterEach(() => ctl?.stop());

  it('fills a stack\'s status at start and follows its services', async () => {
    const repo = new Repository(new MemoryBackend(), new FakeClock(), sequentialIds());
    await repo.create<Stack>(stackKind, { metadata: { name: 'shop', project: 'p', annotations: { [APPLIED_ANNOTATION]: '2026-02-01T00:00:00Z' } }, spec: { objects: [] } });
    const svc = await repo.create<Service>(serviceKind, { metadata: { name: 'web', project: 'p', labels: { [STACK_LABEL]: 'shop' } }, spec: { replicas: 1, template: { spec: { driver: 'process', command: ['x'], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10 } } } });
    ctl = new StackStatusController(repo, { flushMs: 1 });
    await ctl.start();
    const status = async () => (await repo.get<Stack>(stackKind, 'shop', 'p')).status;
    expect(await status()).toEqual({ phase: 'Applying', message: 'rolling out: web', appliedAt: '2026-02-01T00:00:00Z' });
    await repo.setStatus(serviceKind, svc, { phase: 'Available' });
    for (let i = 0; i < 200 && (await status())?.phase !== 'Applied'; i++) await new Promise((r) => setTimeout(r, 5));
    expect(await status()).toEqual({ phase: 'Applied', message: '1 service available', appliedAt: '2026-02-01T00:00:00Z' });
  });
});
