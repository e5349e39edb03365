import { describe, it, expect } from 'vitest';
import { openBackend } from './index.js';
import { timedBackend } from './timed.js';

describe('timedBackend', () => {
  it('reports each txn with its outcome (ok, conflict) and passes everything else through', async () => {
    const seen: string[] = [];
    const store = timedBackend(await openBackend('memory:'), (seconds, result) => {
      expect(seconds).toBeGreaterThanOrEqual(0);
      seen.push(result);
    });
    const r = await store.txn([{ op: 'create', key: '/a/1', value: 'one' }]);
    await expect(store.txn([{ op: 'create', key: '/a/1', value: 'again' }])).rejects.toThrow();
    expect(seen).toEqual(['ok', 'conflict']);
    expect(await store.revision()).toBe(r.revision);
    expect((await store.get('/a/1'))?.value).toBe('one');
    expect(store.name).toBe('memory');
    await store.close();
  });
});
