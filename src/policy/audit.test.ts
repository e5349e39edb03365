import { describe, it, expect } from 'vitest';
import { MemoryBackend } from '../store/memory.js';
import { FakeClock, sequentialIds } from '../model/runtime.js';
import { AuditLog } from './audit.js';

const DAY = 86_400_000;
const entry = (name: string) => ({ actor: 'user:alice', token: 'laptop', method: 'POST', path: '/v1/x', action: 'create', name, status: 201 });

describe('audit retention', () => {
  it('drops entries older than the age, then the oldest beyond the count', async () => {
    const clock = new FakeClock();
    const audit = new AuditLog(new MemoryBackend(), clock, sequentialIds());
    for (let day = 0; day < 10; day++) {
      await audit.record(entry(`day-${day}`));
      clock.advance(DAY);
    }
    // now: day 10. Older than 7 days: days 0, 1, 2 (day 3 is exactly 7 days old and stays).
    expect(await audit.sweep({ maxAgeMs: 7 * DAY, maxEntries: 100 })).toBe(3);
    expect((await audit.query()).items.map((e) => e.name)).toEqual(['day-9', 'day-8', 'day-7', 'day-6', 'day-5', 'day-4', 'day-3']);
    expect(await audit.sweep({ maxAgeMs: 7 * DAY, maxEntries: 2 })).toBe(5);
    expect((await audit.query()).items.map((e) => e.name)).toEqual(['day-9', 'day-8']);
  });

  it('pages through more old entries than one delete takes', async () => {
    const clock = new FakeClock();
    const audit = new AuditLog(new MemoryBackend(), clock, sequentialIds());
    for (let i = 0; i < 2500; i++) await audit.record(entry(`e${i}`));
    clock.advance(2 * DAY);
    await audit.record(entry('fresh'));
    expect(await audit.sweep({ maxAgeMs: DAY, maxEntries: 1_000_000 })).toBe(2500);
    expect((await audit.query()).items.map((e) => e.name)).toEqual(['fresh']);
  });

  it('filters by the token that acted', async () => {
    const audit = new AuditLog(new MemoryBackend(), new FakeClock(), sequentialIds());
    await audit.record(entry('a'));
    await audit.record({ ...entry('b'), token: 'ci' });
    expect((await audit.query({ token: 'ci' })).items.map((e) => e.name)).toEqual(['b']);
  });
});
