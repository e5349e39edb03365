import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client.js';
import type { StackApplyResult, StackPlanJson } from '../../../src/model/stack/plan.js';
import { applySummary, editorProblems, planEntries, planSummary, requestProblems, stackRequest, TEXT_FIELD } from './stack-plan.js';

const plan: StackPlanJson = {
  stack: 'shop',
  changed: true,
  items: [
    { kind: 'service', name: 'web', project: 'shop', action: 'update', wave: 1, dependsOn: ['db'], desired: {}, changes: [{ path: 'spec.replicas', op: '~', from: 2, to: 3 }, { path: 'spec.template.spec.env.A', op: '+', to: 'x' }] },
    { kind: 'service', name: 'db', project: 'shop', action: 'unchanged', wave: 0, dependsOn: [], desired: {}, changes: [] },
    { kind: 'network', name: 'back', project: 'other', action: 'create', wave: 0, dependsOn: [], desired: {}, changes: [{ path: 'spec.cidr', op: '+', to: '10.9.0.0/24' }] },
  ],
  prune: [{ kind: 'secret', name: 'old', project: 'shop' }],
};

describe('stack editor', () => {
  it('sends one file named after the upload, else the stack; prune only when asked', () => {
    expect(stackRequest('shop', 'services: {}')).toEqual({ files: [{ name: 'shop.yaml', text: 'services: {}' }] });
    expect(stackRequest('shop', 'x', 'deploy.yml', true)).toEqual({ files: [{ name: 'deploy.yml', text: 'x' }], prune: true });
  });

  it('checks the name by the stack kind\'s rule and refuses an empty file before sending', () => {
    expect(requestProblems('shop', stackRequest('shop', 'services: {}'))).toEqual([]);
    const problems = requestProblems('Shop_1', stackRequest('Shop_1', '  \n'));
    expect(problems.map((p) => p.path)).toEqual(['metadata.name', TEXT_FIELD]);
    expect(problems[0]!.message).toMatch(/Shop_1/);
  });

  it('puts a refused file\'s problems under the YAML, one line each; other errors are not its', () => {
    const refusal = new ApiError(400, 'STRATUS_ERR_STACK_INVALID', 'the file has 2 problems', { problems: [{ message: 'shop.yaml:3: services.web.replicas: -1 is less than the minimum 0', path: 'spec.replicas' }, { message: 'shop.yaml:2: services.web.template: is required' }] });
    expect(editorProblems(refusal)).toEqual([{ path: TEXT_FIELD, message: 'shop.yaml:3: services.web.replicas: -1 is less than the minimum 0\nshop.yaml:2: services.web.template: is required' }]);
    expect(editorProblems(new ApiError(400, 'STRATUS_ERR_STACK_INVALID', 'nothing to apply: the files hold no objects'))).toEqual([{ path: TEXT_FIELD, message: 'nothing to apply: the files hold no objects' }]);
    expect(editorProblems(new ApiError(403, 'STRATUS_ERR_FORBIDDEN', 'no'))).toBeUndefined();
  });

  it('shows the plan as diff lines per object, another project named, pruned objects last', () => {
    const entries = planEntries(plan, 'shop');
    expect(entries.map((e) => [e.ref, e.action])).toEqual([['service/web', 'update'], ['service/db', 'unchanged'], ['network/back in project other', 'create'], ['secret/old', 'delete']]);
    expect(entries[0]!.lines).toEqual([{ op: '~', text: '~ spec.replicas: 2 → 3' }, { op: '+', text: '+ spec.template.spec.env.A: "x"' }]);
    expect(planSummary(plan)).toBe('1 to create, 1 to update, 1 unchanged, 1 to delete');
    expect(planSummary({ ...plan, changed: false })).toBe('No changes.');
  });

  it('says what an apply wrote, and what it waits for when it stopped before a wave', () => {
    const result: StackApplyResult = {
      stack: 'shop', dryRun: false, changed: true, complete: false, plan,
      applied: [{ kind: 'service', name: 'db', project: 'shop', action: 'created' }, { kind: 'secret', name: 'k', project: 'shop', action: 'unchanged' }],
      pruned: [],
      waiting: { for: [{ kind: 'service', name: 'db', project: 'shop', state: 'pending', health: '0/1 ready' }], remaining: [{ kind: 'service', name: 'web', project: 'shop' }] },
    };
    expect(applySummary(result)).toBe('Applied so far: service/db created. Waiting for service/db (0/1 ready) before writing service/web: apply again once it is healthy.');
    expect(applySummary({ ...result, waiting: undefined, complete: true })).toBe('Applied: service/db created.');
  });
});
