/**
 * Nothing is left behind: 100 create/delete cycles of instances, security-group rules, published
 * ports and services (and 10 of their network) on two simulated hosts, then a listing of links, namespaces and
 * nftables rules; and an agent killed with its instances attached, whose successor removes what
 * it does not know and keeps (without disturbing) what it does. Needs root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import { SimCluster, networkTestSkipReason, type HostAgent } from '../src/node/network/testing.js';
import type { AttachedInstance } from '../src/node/network/dataplane.js';

const skip = networkTestSkipReason();
if (skip) console.warn(`network cleanup tests skipped: ${skip}`);

describe.skipIf(skip !== undefined)('network cleanup', () => {
  let cluster: SimCluster;
  let agents: HostAgent[];

  /** What a person would list on host `h`: links, our namespaces, nft rules mentioning instance traffic. */
  async function inventory(h: number): Promise<{ links: string[]; netns: string[]; etcNetns: string[]; rules: string[] }> {
    const host = cluster.hosts[h]!;
    const links = (await cluster.exec(host.ns, ['ip', '-o', 'link', 'show'])).stdout.split('\n').filter(Boolean).map((l) => l.split(': ')[1]!.split('@')[0]!).sort();
    const netns = (await cluster.exec(host.ns, ['ip', 'netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(host.netnsPrefix));
    const etcNetns = (await readdir('/etc/netns').catch(() => [] as string[])).filter((n) => n.startsWith(host.netnsPrefix));
    const ruleset = (await cluster.exec(host.ns, ['nft', 'list', 'ruleset'])).stdout;
    const rules = ruleset.split('\n').map((l) => l.trim()).filter((l) => /10\.241\.|dnat|jump in-|elements|oifname "st/.test(l));
    return { links, netns, etcNetns, rules };
  }

  const network = (h: number, vni: number, third = 0) => ({
    project: 'p', name: `n${third}`, vni, cidr: `10.241.${third}.0/24`, gateway: `10.241.${third}.1`, nodeAddress: `10.241.${third}.${250 + h}`,
    peers: [{ underlay: cluster.hosts[1 - h]!.underlayIp, address: `10.241.${third}.${251 - h}` }],
  });

  beforeAll(async () => {
    cluster = await SimCluster.create('nc', 2, 211);
    agents = [await cluster.agent(0), await cluster.agent(1)];
  }, 60_000);

  afterAll(async () => {
    await cluster?.destroy();
  }, 60_000);

  it('100 create/delete cycles leave no links, namespaces or rules behind', async () => {
    const before = [await inventory(0), await inventory(1)];
    expect(before[0]!.links).toEqual(['eth0', 'lo']);
    let vni = 0x1000;
    for (let i = 0; i < 100; i++) {
      // instances, rules, published ports and services every cycle; the network itself every tenth (link deletion is slow in the kernel)
      const newNetwork = i % 10 === 0;
      if (newNetwork) await Promise.all([0, 1].map((h) => agents[h]!.call('ensureNetwork', network(h, vni))));
      const ids = [`c${i}-a`, `c${i}-b`, `c${i}-c`];
      await Promise.all([
        agents[0]!.call('attachInstance', { id: ids[0], project: 'p', name: 'a', vni, ip: '10.241.0.10' })
          .then(() => agents[0]!.call('attachInstance', { id: ids[1], project: 'p', name: 'b', vni, ip: '10.241.0.11' })),
        agents[1]!.call('attachInstance', { id: ids[2], project: 'p', name: 'c', vni, ip: '10.241.0.12' }),
      ]);
      await agents[0]!.call('setIngress', [[ids[0], { groups: ['g'], rules: [{ protocol: 'tcp', ports: { from: 80, to: 80 }, sources: ['10.241.0.11'] }] }]]);
      await agents[0]!.call('setPublished', [{ hostPort: 8080, protocol: 'tcp', ip: '10.241.0.10', port: 80 }]);
      const services = [
        { key: 'p/rr', vni, vip: '10.241.0.100', algorithm: 'round-robin', ports: [{ port: 80, targetPort: 80, protocol: 'tcp', publish: 8081 }], backends: [{ ip: '10.241.0.10' }, { ip: '10.241.0.12' }] },
        { key: 'p/lc', vni, vip: '10.241.0.101', algorithm: 'least-connections', ports: [{ port: 80, targetPort: 80, protocol: 'tcp' }], backends: [{ ip: '10.241.0.11' }] },
      ];
      await agents[0]!.call('setServices', services);
      await agents[0]!.call('setRecords', vni, { a: '10.241.0.10' }, ['p.stratus']);
      if (i === 0) expect((await inventory(0)).rules.length).toBeGreaterThan(5); // the check below can see rules
      await agents[0]!.call('setServices', []);
      await agents[0]!.call('setPublished', []);
      await Promise.all([
        agents[0]!.call('detachInstance', ids[0]).then(() => agents[0]!.call('detachInstance', ids[1])),
        agents[1]!.call('detachInstance', ids[2]),
      ]);
      if (i % 10 === 9) {
        await Promise.all([0, 1].map((h) => agents[h]!.call('removeNetwork', vni)));
        vni++;
      }
    }
    const after = [await inventory(0), await inventory(1)];
    expect(after).toEqual(before);
    expect(after.map((a) => [a.netns, a.etcNetns, a.rules])).toEqual([[[], [], []], [[], [], []]]);
  }, 600_000);

  it('an agent that restarts removes what it does not know and keeps what it does, undisturbed', async () => {
    const vni = 0x2000;
    await agents[0]!.call('ensureNetwork', network(0, vni));
    const keep = await agents[0]!.call<AttachedInstance>('attachInstance', { id: 'keep', project: 'p', name: 'keep', vni, ip: '10.241.0.20' });
    await agents[0]!.call('attachInstance', { id: 'gone', project: 'p', name: 'gone', vni, ip: '10.241.0.21' });
    await agents[0]!.call('ensureNetwork', network(0, vni + 1, 1)); // a whole network nobody will ask for again
    await agents[0]!.call('setPublished', [{ hostPort: 8080, protocol: 'tcp', ip: '10.241.0.21', port: 80 }]);
    await cluster.httpServer(keep.netnsName, 80, 'kept');
    const client = cluster.run(keep.netnsName, [process.execPath, '-e', 'require("net").createServer((s) => s.pipe(s)).listen(7, () => console.log("up"))']);
    await new Promise((r) => client.stdout!.once('data', r));

    await agents[0]!.kill(); // crash: nothing cleaned up
    expect((await inventory(0)).netns).toHaveLength(2);
    agents[0] = await cluster.agent(0);
    await agents[0]!.call('ensureNetwork', network(0, vni));
    await agents[0]!.call('attachInstance', { id: 'keep', project: 'p', name: 'keep', vni, ip: '10.241.0.20' });
    const removed = await agents[0]!.call<{ netns: string[]; links: string[] }>('cleanupLeftovers');
    expect(removed.netns).toHaveLength(1);
    expect(removed.links.sort()).toEqual(['stb2001', 'stv' + removed.netns[0]!.slice(-12), 'stx2001'].sort());
    const inv = await inventory(0);
    expect(inv.netns).toEqual([keep.netnsName]);
    expect(inv.rules.join('\n')).not.toContain('10.241.0.21');
    expect(await cluster.httpGets(cluster.hosts[0]!.ns, 'http://10.241.0.20/', 1)).toEqual(['kept']);

    await agents[0]!.call('teardown');
    const empty = await inventory(0);
    expect([empty.links, empty.netns, empty.rules]).toEqual([['eth0', 'lo'], [], []]);
  }, 120_000);
});
