import { describe, expect, it } from 'vitest';
import { instanceKind } from '../../../src/model/kinds/index.js';
import { ApiError } from '../api/client.js';
import { createForm, placeProblems, problemsOfError, validateObject } from './form.js';

describe('forms', () => {
  it('validate with the kind\'s own checks: schema, metadata rules and normalize', () => {
    expect(validateObject(instanceKind, { metadata: { name: 'web' }, spec: { driver: 'process', command: ['sleep', '1'] } })).toEqual([]);
    expect(validateObject(instanceKind, { metadata: { name: 'Web_1' }, spec: { driver: 'process', command: ['x'] } }).map((p) => p.path)).toEqual(['metadata.name']);
    const problems = validateObject(instanceKind, { metadata: { name: 'web' }, spec: { driver: 'process', command: ['x'], resources: { memory: '12Qi' } } });
    expect(problems.map((p) => p.path)).toEqual(['spec.resources.memory']);
    expect(problems[0]!.message).toMatch(/12Qi/);
  });

  it('place each problem beside the closest field the form has, the rest in one sentence', () => {
    const known = (p: string) => ['metadata.name', 'spec.ports'].includes(p);
    const placed = placeProblems([
      { path: 'metadata.name', message: 'is too long' },
      { path: 'spec.ports[0].port', message: '0 is less than the minimum 1' },
      { path: 'spec.env', message: 'unknown field' },
    ], known);
    expect(placed.fields).toEqual({ 'metadata.name': 'is too long', 'spec.ports': 'spec.ports[0].port: 0 is less than the minimum 1' });
    expect(placed.rest).toEqual(['spec.env: unknown field']);
  });

  it('read an API refusal\'s problems from its details, or the field its message names', () => {
    const validation = new ApiError(400, 'STRATUS_ERR_VALIDATION', 'spec.replicas: -1 is less than the minimum 0', { problems: [{ path: 'spec.replicas', message: '-1 is less than the minimum 0' }] });
    expect(problemsOfError(validation)).toEqual([{ path: 'spec.replicas', message: '-1 is less than the minimum 0' }]);
    const quota = new ApiError(403, 'STRATUS_ERR_QUOTA_EXCEEDED', 'spec.resources.cpu: project "p" would use 9 cores of its 8');
    expect(problemsOfError(quota)).toEqual([{ path: 'spec.resources.cpu', message: 'project "p" would use 9 cores of its 8' }]);
    const plain = new ApiError(409, 'STRATUS_ERR_CONFLICT', 'the object changed since it was read');
    expect(problemsOfError(plain)).toEqual([{ path: '', message: 'the object changed since it was read' }]);
  });

  it('submit shows problems found before sending, and sends nothing then', async () => {
    const form = createForm();
    form.register('spec.replicas');
    let sent = 0;
    const out = await form.submit(() => [{ path: 'spec.replicas', message: 'is required' }], async () => { sent++; return 1; });
    expect(out).toBeUndefined();
    expect(sent).toBe(0);
    expect(form.fields.value).toEqual({ 'spec.replicas': 'is required' });
    const refused = await form.submit(() => [], async () => { throw new ApiError(409, 'STRATUS_ERR_ALREADY_EXISTS', 'service "web" already exists'); });
    expect(refused).toBeUndefined();
    expect(form.general.value).toBe('service "web" already exists');
    expect(await form.submit(() => [], async () => 'ok')).toBe('ok');
    expect(form.fields.value).toEqual({});
    expect(form.general.value).toBeUndefined();
  });
});
