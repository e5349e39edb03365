/**
 * SIGKILL the server in the middle of a stream of acknowledged writes, restart it, and check
 * that every acknowledged write is there and that the store is consistent.
 */
import { describe, it, expect } from 'vitest';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { startTestServer, client, instance } from './helpers/server.js';
import { readEvents } from '../src/client/index.js';

describe('durability', () => {
  it('keeps every acknowledged write across SIGKILL, with a consistent store', async () => {
    const first = await startTestServer({ args: ['--store-sync', 'full'] });
    const admin = client(first.url, first.token);
    expect((await admin('POST', '/v1/projects', { metadata: { name: 'dur' }, spec: {} })).status).toBe(201);

    const created = new Set<string>();
    const patched = new Map<string, number>();
    let stop = false;
    const writer = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const name = `d-${w}-${i}`;
        try {
          const res = await admin('POST', '/v1/projects/dur/instances', instance(name, {}, { seq: '0' }));
          if (res.status === 201) created.add(name);
          if (i % 3 === 0 && res.status === 201) {
            const p = await admin('PATCH', `/v1/projects/dur/instances/${name}`, { metadata: { labels: { seq: String(i) } } }, { 'content-type': 'application/merge-patch+json' });
            if (p.status === 200) patched.set(name, i);
          }
        } catch {
          return; // the server died mid-request: that write was not acknowledged
        }
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    while (created.size < 150) await new Promise((r) => setTimeout(r, 20));
    await first.kill();
    stop = true;
    await Promise.all(writers);
    expect(created.size).toBeGreaterThanOrEqual(150);

    const second = await startTestServer({ dataDir: first.dataDir });
    try {
      const again = client(second.url, second.token);
      const list = await again('GET', '/v1/projects/dur/instances');
      expect(list.status).toBe(200);
      const byName = new Map<string, { metadata: { name: string; revision: number; labels: Record<string, string> } }>(
        list.body.items.map((o: { metadata: { name: string } }) => [o.metadata.name, o]),
      );
      const missing = [...created].filter((n) => !byName.has(n));
      expect(missing).toEqual([]);
      for (const [name, seq] of patched) expect(Number(byName.get(name)!.metadata.labels.seq)).toBeGreaterThanOrEqual(seq);
      const revs = [...byName.values()].map((o) => o.metadata.revision);
      expect(Math.max(...revs)).toBeLessThanOrEqual(list.body.revision);

      // Replaying the watch history from the start yields exactly the stored state.
      const replay = new Map<string, number>();
      const res = await fetch(`${second.url}/v1/projects/dur/instances?watch=true&revision=0`, { headers: { authorization: `Bearer ${second.token}` } });
      let last = 0;
      for await (const msg of readEvents(res.body!)) {
        if (msg.type === 'bookmark') continue;
        expect(msg.revision!).toBeGreaterThan(last);
        last = msg.revision!;
        const name = (msg.object as { metadata: { name: string } }).metadata.name;
        if (msg.type === 'delete') replay.delete(name);
        else replay.set(name, msg.revision!);
        if (last >= list.body.revision || replay.size === byName.size && [...byName.values()].every((o) => replay.get(o.metadata.name) === o.metadata.revision)) break;
      }
      expect(new Map([...byName.values()].map((o) => [o.metadata.name, o.metadata.revision]))).toEqual(replay);

      const next = await again('POST', '/v1/projects/dur/instances', instance('after-crash'));
      expect(next.body.metadata.revision).toBeGreaterThan(list.body.revision);
    } finally {
      await second.stop();
    }
    const db = new Database(join(first.dataDir, 'stratus.db'), { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
    first.cleanup();
  });
});
