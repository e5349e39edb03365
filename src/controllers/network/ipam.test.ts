import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackend, type Backend } from '../../store/index.js';
import { ValidationError } from '../../model/errors.js';
import { AddressSpaceExhausted, Ipam, isAssignable, type Owner } from './ipam.js';
import { ipamKeys } from '../../model/keyspace.js';

/** A seeded uniform generator (mulberry32), so a failing run replays. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Routes every backend call through fast-check's scheduler, which interleaves them as it likes. */
function scheduled(backend: Backend, s: fc.Scheduler): Backend {
  const wrap = <A extends unknown[], R>(f: (...a: A) => Promise<R>, label: string) =>
    (...a: A) => s.schedule(Promise.resolve(), label).then(() => f.apply(backend, a));
  return {
    ...backend,
    name: backend.name,
    get: wrap(backend.get, 'get'),
    range: wrap(backend.range, 'range'),
    txn: wrap(backend.txn, 'txn'),
    revision: backend.revision.bind(backend),
    count: backend.count.bind(backend),
    watch: backend.watch.bind(backend),
    compact: backend.compact.bind(backend),
    compactedRevision: backend.compactedRevision.bind(backend),
    close: backend.close.bind(backend),
  };
}

const inst = (name: string, uid?: string): Owner => ({ kind: 'instance', name, ...(uid ? { uid } : {}) });

describe('Ipam: networks', () => {
  it('carves /24s from the pool, with a gateway and a VNI, idempotently', async () => {
    const ipam = new Ipam(await openBackend('memory:'), { random: seeded(1) });
    const a = await ipam.allocateNetwork('p1', 'default');
    expect(a.cidr).toMatch(/^10\.(24[0-9]|25[0-5])\.\d+\.0\/24$/);
    expect(a.gateway).toBe(a.cidr.replace(/0\/24$/, '1'));
    expect(a.vni).toBeGreaterThan(0);
    expect(await ipam.allocateNetwork('p1', 'default')).toEqual(a);
    const b = await ipam.allocateNetwork('p2', 'default');
    expect(b.cidr).not.toBe(a.cidr);
    expect(b.vni).not.toBe(a.vni);
  });

  it('claims requested ranges and refuses overlaps, naming the holder', async () => {
    const ipam = new Ipam(await openBackend('memory:'));
    await ipam.allocateNetwork('p1', 'big', '10.50.0.0/22');
    const overlap = await ipam.allocateNetwork('p2', 'x', '10.50.2.0/24').catch((e: unknown) => e);
    expect(overlap).toBeInstanceOf(ValidationError);
    expect((overlap as ValidationError).message).toBe('spec.cidr: 10.50.2.0/24 overlaps network "big" of project "p1" (10.50.0.0/22)');
    await ipam.allocateNetwork('p1', 'small', '10.60.0.0/26');
    const sameBlock = await ipam.allocateNetwork('p2', 'y', '10.60.0.64/26').catch((e: unknown) => e);
    expect((sameBlock as Error).message).toContain('ranges are claimed in whole /24 blocks');
    const bad = await ipam.allocateNetwork('p2', 'z', '10.0.0.0/8').catch((e: unknown) => e);
    expect((bad as Error).message).toContain('use a prefix between /16 and /28');
    const changed = await ipam.allocateNetwork('p1', 'big', '10.70.0.0/24').catch((e: unknown) => e);
    expect((changed as Error).message).toContain('the network already has 10.50.0.0/22');
  });

  it('skips blocks claimed by requested ranges inside the pool, and reports a full pool', async () => {
    const ipam = new Ipam(await openBackend('memory:'), { pool: '10.9.0.0/23', random: seeded(2) });
    await ipam.allocateNetwork('p', 'manual', '10.9.0.0/24');
    expect((await ipam.allocateNetwork('p', 'auto')).cidr).toBe('10.9.1.0/24');
    await expect(ipam.allocateNetwork('p', 'more')).rejects.toBeInstanceOf(AddressSpaceExhausted);
    await ipam.releaseNetwork('p', 'manual');
    expect((await ipam.allocateNetwork('p', 'more')).cidr).toBe('10.9.0.0/24');
  });

  it('releases the range, the VNI and every address of a deleted network', async () => {
    const backend = await openBackend('memory:');
    const ipam = new Ipam(backend);
    const before = await backend.count(ipamKeys.all);
    await ipam.allocateNetwork('p', 'n', '10.1.0.0/23');
    await ipam.allocateAddress('p', 'n', inst('a'));
    await ipam.allocateAddress('p', 'n', { kind: 'node', name: 'node-1' });
    await ipam.releaseNetwork('p', 'n');
    expect(await backend.count(ipamKeys.all)).toBe(before);
    await ipam.releaseNetwork('p', 'n'); // idempotent
  });
});

describe('Ipam: addresses', () => {
  it('grants .2 up to the last but one, never the gateway or broadcast, idempotently per owner', async () => {
    const ipam = new Ipam(await openBackend('memory:'), { random: seeded(3) });
    await ipam.allocateNetwork('p', 'n', '10.2.0.0/28'); // 13 assignable: .2 ... .14
    const ips = new Set<string>();
    for (let i = 0; i < 13; i++) ips.add(await ipam.allocateAddress('p', 'n', inst(`i${i}`)));
    expect(ips.size).toBe(13);
    for (const ip of ips) expect(isAssignable('10.2.0.0/28', ip)).toBe(true);
    expect(await ipam.allocateAddress('p', 'n', inst('i4'))).toBe([...ips][4]);
    await expect(ipam.allocateAddress('p', 'n', inst('one-more'))).rejects.toThrow('has no free address left');
  });

  it('releases on delete, and replaces the lease of a former incarnation', async () => {
    const ipam = new Ipam(await openBackend('memory:'), { random: seeded(4) });
    await ipam.allocateNetwork('p', 'n', '10.3.0.0/24');
    const ip = await ipam.allocateAddress('p', 'n', inst('web', 'uid-1'));
    expect(await ipam.releaseAddress('p', 'n', inst('web', 'uid-0'))).toBeUndefined(); // someone else's incarnation
    expect(await ipam.releaseAddress('p', 'n', inst('web', 'uid-1'))).toBe(ip);
    expect(await ipam.releaseAddress('p', 'n', inst('web', 'uid-1'))).toBeUndefined();
    expect(await ipam.listAddresses('p', 'n')).toEqual([]);
    await ipam.allocateAddress('p', 'n', inst('db', 'uid-2'));
    const again = await ipam.allocateAddress('p', 'n', inst('db', 'uid-3'));
    expect(await ipam.listAddresses('p', 'n')).toEqual([{ ip: again, owner: inst('db', 'uid-3') }]);
  });

  it('releases orphans', async () => {
    const ipam = new Ipam(await openBackend('memory:'));
    await ipam.allocateNetwork('p', 'n', '10.4.0.0/24');
    await ipam.allocateAddress('p', 'n', inst('keep'));
    const gone = await ipam.allocateAddress('p', 'n', inst('gone'));
    const released = await ipam.releaseOrphans('p', 'n', (o) => o.name === 'keep');
    expect(released).toEqual([{ ip: gone, owner: inst('gone') }]);
    expect((await ipam.listAddresses('p', 'n')).map((l) => l.owner.name)).toEqual(['keep']);
  });

  it('needs an allocated network', async () => {
    const ipam = new Ipam(await openBackend('memory:'));
    await expect(ipam.allocateAddress('p', 'nope', inst('a'))).rejects.toThrow('allocate the network first');
  });
});

describe('Ipam under concurrency (property)', () => {
  it('never hands out an address twice, whatever the interleaving', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.integer({ min: 1, max: 40 }), fc.integer(), async (s, owners, seed) => {
        const backend = await openBackend('memory:');
        await new Ipam(backend).allocateNetwork('p', 'n', '10.5.0.0/27'); // 29 assignable
        // several allocators (as on several servers), each with its own random start, sharing one store
        const allocators = [0, 1, 2].map((k) => new Ipam(scheduled(backend, s), { random: seeded(seed + k), maxAttempts: 200 }));
        const results = await s.waitFor(Promise.allSettled(
          Array.from({ length: owners }, (_, i) => allocators[i % 3]!.allocateAddress('p', 'n', inst(`i${i}`))),
        ));
        const granted = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(AddressSpaceExhausted);
        expect(new Set(granted).size).toBe(granted.length);
        expect(granted.length).toBe(Math.min(owners, 29));
        const leases = await new Ipam(backend).listAddresses('p', 'n');
        expect(leases.map((l) => l.ip).sort()).toEqual([...granted].sort());
        await backend.close();
      }),
      { numRuns: 60 },
    );
  });

  it('never hands out a range or a VNI twice, and one network gets one range', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), { minLength: 1, maxLength: 12 }), async (s, names) => {
        const backend = await openBackend('memory:');
        const ipam = new Ipam(scheduled(backend, s), { pool: '10.8.0.0/22', random: seeded(names.length) }); // 4 blocks
        const results = await s.waitFor(Promise.allSettled(names.map((n) => ipam.allocateNetwork('p', n))));
        const byName = new Map<string, string>();
        for (const [i, r] of results.entries()) {
          if (r.status === 'rejected') {
            expect(r.reason).toBeInstanceOf(AddressSpaceExhausted);
            continue;
          }
          const prev = byName.get(names[i]!);
          if (prev) expect(r.value.cidr).toBe(prev); // the same network twice: the same range
          byName.set(names[i]!, r.value.cidr);
        }
        const final = await Promise.all([...byName.keys()].map((n) => new Ipam(backend).getNetwork('p', n)));
        expect(new Set(final.map((f) => f!.cidr)).size).toBe(final.length);
        expect(new Set(final.map((f) => f!.vni)).size).toBe(final.length);
        expect(final.length).toBe(Math.min(new Set(names).size, 4));
        await backend.close();
      }),
      { numRuns: 60 },
    );
  });

  it('holds on SQLite too (group commit)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-ipam-'));
    const backend = await openBackend(`sqlite://${join(dir, 'db.sqlite')}?sync=normal`);
    try {
      await new Ipam(backend).allocateNetwork('p', 'n', '10.6.0.0/24');
      const ipams = [1, 2, 3, 4].map((k) => new Ipam(backend, { random: seeded(k), maxAttempts: 500 }));
      const ips = await Promise.all(Array.from({ length: 200 }, (_, i) => ipams[i % 4]!.allocateAddress('p', 'n', inst(`i${i}`))));
      expect(new Set(ips).size).toBe(200);
    } finally {
      await backend.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
