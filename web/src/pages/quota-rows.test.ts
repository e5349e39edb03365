import { describe, expect, it } from 'vitest';
import type { Project } from '../../../src/model/kinds/project.js';
import { projectKind } from '../../../src/model/kinds/index.js';
import { validateObject } from '../ui/form.js';
import { quotaDraft, quotaRows, quotasFromDraft } from './quota-rows.js';

/** A stored project: quotas and usage canonical (millicores, MiB, thousandths of a GPU). */
const project = { kind: 'project', metadata: { name: 'shop' }, spec: { quotas: { cpu: 4000, memory: 8192, gpu: 500, instances: 10 } }, status: { usage: { cpu: 1500, memory: 512, disk: 0, gpu: 0, instances: 3 } } } as unknown as Project;

describe('quotas', () => {
  it('read as used of limit, in the units quotas are written in; unset ones unlimited', () => {
    const rows = Object.fromEntries(quotaRows(project).map((r) => [r.name, r]));
    expect(rows['cpu']).toEqual({ name: 'cpu', used: 1500, limit: 4000, text: '1500m of 4' });
    expect(rows['memory']!.text).toBe('512Mi of 8Gi');
    expect(rows['gpu']!.text).toBe('0 of 500m');
    expect(rows['instances']!.text).toBe('3 of 10');
    expect(rows['disk']).toEqual({ name: 'disk', used: 0, text: '0Mi of unlimited' });
    expect(quotaRows(project).map((r) => r.name)).toEqual(['cpu', 'memory', 'disk', 'gpu', 'instances', 'volumes', 'storage']);
  });

  it('round-trip through the form: the draft parses back to the same limits', () => {
    const draft = quotaDraft(project);
    expect(draft).toMatchObject({ cpu: '4', memory: '8Gi', gpu: '500m', instances: '10', disk: '' });
    const quotas = quotasFromDraft(draft);
    expect(quotas).toEqual({ cpu: '4', memory: '8Gi', gpu: '500m', instances: 10 });
    expect(validateObject(projectKind, { metadata: { name: 'shop' }, spec: { quotas } })).toEqual([]);
  });

  it('leave emptied fields out (unlimited), and bad text for the schema to refuse by field', () => {
    const quotas = quotasFromDraft({ ...quotaDraft(project), cpu: '4x', instances: 'many', memory: ' ' });
    expect(quotas).toEqual({ cpu: '4x', gpu: '500m', instances: 'many' });
    const paths = validateObject(projectKind, { metadata: { name: 'shop' }, spec: { quotas } }).map((p) => p.path);
    expect(paths).toContain('spec.quotas.instances');
  });
});
