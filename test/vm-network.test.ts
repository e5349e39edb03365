/**
 * A VM's tap device in a real kernel (no VM booted: the tap, its bridge port and its rules are
 * what the dataplane makes; test/vm.test.ts sends traffic through one). One simulated host.
 * Needs root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimCluster, networkTestSkipReason, type HostAgent } from '../src/node/network/testing.js';
import { guestMac, shortHash } from '../src/node/network/names.js';
import type { AttachedTap, Owned } from '../src/node/network/dataplane.js';

const skip = networkTestSkipReason();
if (skip) console.warn(`VM network tests skipped: ${skip}`);

describe.skipIf(skip !== undefined)('VM taps', () => {
  let cluster: SimCluster;
  let agent: HostAgent;
  const NET = { project: 'p', name: 'default', vni: 0x2100, cidr: '10.241.9.0/24', gateway: '10.241.9.1', nodeAddress: '10.241.9.250', search: ['p.stratus'] };
  const OWNER = { uid: 1179648, gid: 1179649 };

  const link = async (name: string) => {
    const r = await cluster.exec(cluster.hosts[0]!.ns, ['ip', '-j', '-d', 'link', 'show', 'dev', name]);
    return r.code === 0 ? (JSON.parse(r.stdout) as { ifname: string; master?: string; mtu: number; ifalias?: string; linkinfo: { info_kind: string; info_data: { type: string; user: number; group: number }; info_slave_data?: { hairpin: boolean } } }[])[0] : undefined;
  };

  beforeAll(async () => {
    cluster = await SimCluster.create('vt', 1, 219);
    agent = await cluster.agent(0);
    await agent.call('ensureNetwork', NET);
  }, 60_000);

  afterAll(async () => {
    await cluster?.destroy();
  }, 60_000);

  it('makes a tap owned by QEMU\'s user on the bridge, with the VM\'s address as its only source, and removes it', async () => {
    const a = await agent.call<AttachedTap>('attachTap', { id: 'vm-a', project: 'p', name: 'vm', vni: NET.vni, ip: '10.241.9.20', tap: OWNER });
    const tap = `stt${shortHash('vm-a')}`;
    expect(a.tap).toEqual({ name: tap, mac: guestMac('vm-a') });
    const l = await link(tap);
    expect(l).toMatchObject({ master: 'stb2100', mtu: 1450, ifalias: 'stratus:p/vm', linkinfo: { info_kind: 'tun', info_data: { type: 'tap', user: OWNER.uid, group: OWNER.gid }, info_slave_data: { hairpin: true } } });
    const rules = (await cluster.exec(cluster.hosts[0]!.ns, ['nft', 'list', 'table', 'bridge', 'stratus'])).stdout;
    expect(rules).toContain(`"${tap}" . 10.241.9.20`);
    expect(rules).toMatch(/iifname \{ "st[vt]\*", "st[vt]\*" \} iifname \. ip saddr != @sources drop/);
    // an agent restart re-attaches the same tap (QEMU may hold it open): still there, same owner
    await agent.call('attachTap', { id: 'vm-a', project: 'p', name: 'vm', vni: NET.vni, ip: '10.241.9.20', tap: OWNER });
    expect((await link(tap))?.linkinfo.info_data.user).toBe(OWNER.uid);
    await agent.call('detachInstance', 'vm-a');
    expect(await link(tap)).toBeUndefined();
    expect((await cluster.exec(cluster.hosts[0]!.ns, ['nft', 'list', 'table', 'bridge', 'stratus'])).stdout).not.toContain(tap);
  });

  it('removes a tap it does not know after a restart, and keeps the ones it does', async () => {
    await agent.call('attachTap', { id: 'vm-keep', project: 'p', name: 'keep', vni: NET.vni, ip: '10.241.9.21', tap: OWNER });
    await cluster.exec(cluster.hosts[0]!.ns, ['ip', 'tuntap', 'add', 'dev', `stt${shortHash('vm-gone')}`, 'mode', 'tap']);
    const removed = await agent.call<Owned>('cleanupLeftovers');
    expect(removed.links).toEqual([`stt${shortHash('vm-gone')}`]);
    expect(await link(`stt${shortHash('vm-keep')}`)).toBeDefined();
    await agent.call('detachInstance', 'vm-keep');
  });
});
