import { describe, it, expect } from 'vitest';
import { parseStatus } from './kind.js';
import { ALL_KINDS, projectKind } from './kinds/index.js';
import { ValidationError } from './errors.js';

describe('status.deletion', () => {
  const deletion = { startedAt: '2026-12-01T00:00:00Z', waitingFor: [{ kind: 'instance', count: 2, names: ['a', 'b'] }] };

  it('is part of every kind\'s status schema', () => {
    for (const kind of ALL_KINDS) expect(Object.keys(kind.status.properties), kind.kind).toContain('deletion');
  });

  it('is accepted in a status write and checked field by field', () => {
    expect(parseStatus(projectKind, { phase: 'Deleting', deletion })).toEqual({ phase: 'Deleting', deletion });
    const bad = () => parseStatus(projectKind, { phase: 'Deleting', deletion: { ...deletion, waitingFor: [{ kind: 'instance', count: -1 }] } });
    expect(bad).toThrow(ValidationError);
    expect(bad).toThrow(/status\.deletion\.waitingFor\[0\]\.count/);
  });
});
