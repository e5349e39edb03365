import { describe, it, expect } from 'vitest';
import { plural } from './format.js';

describe('plural', () => {
  it.each([[0, '0 replicas'], [1, '1 replica'], [2, '2 replicas']])('%d → %s', (n, want) => expect(plural(n, 'replica')).toBe(want));
  it('takes an irregular plural', () => expect(plural(2, 'entry', 'entries')).toBe('2 entries'));
});
