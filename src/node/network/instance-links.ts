/**
 * An instance's links on its network's bridge, of one of two kinds:
 *
 *   veth (process, container)  namespace <netns><h>, veth stv<h> ↔ eth0 inside, address, default route
 *   tap  (vm)                  persistent tap stt<h> owned by QEMU's uid; the guest sets its own address
 *
 * Either way the host end is a bridge port with hairpin on and an alias naming the instance, and
 * the firewall keys on that port's name (`sources`: link . address, firewall.ts), so the same
 * isolation, security groups, published ports, service balancing and DNS apply to both.
 * Every function is idempotent: a repair (agent restart, interrupted attempt) changes only what
 * is wrong and never disturbs a running instance.
 */
import { parseCidrOrThrow } from '../../model/cidr.js';
import type { IpTool } from './links.js';
import { guestMac, type Naming } from './names.js';
import type { AttachedInstance, AttachedTap, InstanceConfig, NetworkConfig, TapInstanceConfig } from './types.js';

export interface LinkContext {
  ipt: IpTool;
  names: Naming;
  mtu: number;
  netnsPath(id: string): string;
  writeResolvConf(ns: string, dns: { nameserver: string; search: string[] }): Promise<void>;
}

/** Makes (or repairs) the instance's links: a tap when `inst.tap`, else a namespace and veth. */
export function attachLinks(ctx: LinkContext, inst: InstanceConfig, net: NetworkConfig): Promise<AttachedInstance | AttachedTap> {
  return inst.tap ? attachTap(ctx, { ...inst, tap: inst.tap }, net) : attachVeth(ctx, inst, net);
}

/** What removes an instance's links of either kind (each command may fail: run with `force`). */
export function detachCommands(names: Naming, id: string): string[][] {
  // the veth first and explicitly: a namespace's own links go with it only asynchronously
  return [['link', 'del', 'dev', names.veth(id)], ['link', 'del', 'dev', names.tap(id)], ['netns', 'del', names.netns(id)]];
}

/** The commands that make `link` a port of the network's bridge. */
function portCommands(ctx: LinkContext, link: string, inst: InstanceConfig, net: NetworkConfig): string[][] {
  return [
    ['link', 'set', 'dev', link, 'master', ctx.names.bridge(net.vni)],
    // an instance reaching itself through a service address comes back out of the port it went in
    ['link', 'set', 'dev', link, 'type', 'bridge_slave', 'hairpin', 'on'],
    ['link', 'set', 'dev', link, 'alias', `stratus:${inst.project}/${inst.name}`],
    ['link', 'set', 'dev', link, 'up'],
  ];
}

/**
 * A VM's tap: one `ip` process. The tap persists without QEMU (QEMU opens it by name and may
 * restart without it going away); with an owner, QEMU running as that owner may open it. An
 * existing tap is kept (QEMU may have it open): only its bridge port settings are applied again.
 */
async function attachTap(ctx: LinkContext, inst: TapInstanceConfig, net: NetworkConfig): Promise<AttachedTap> {
  const tap = ctx.names.tap(inst.id);
  const have = await ctx.ipt.link(tap);
  const owner = [...(inst.tap.uid !== undefined ? ['user', String(inst.tap.uid)] : []), ...(inst.tap.gid !== undefined ? ['group', String(inst.tap.gid)] : [])];
  const create = have ? [] : [['tuntap', 'add', 'dev', tap, 'mode', 'tap', ...owner]];
  await ctx.ipt.batch([...create, ['link', 'set', 'dev', tap, 'mtu', String(ctx.mtu)], ...portCommands(ctx, tap, inst, net)]);
  const prefixlen = parseCidrOrThrow(net.cidr).prefix;
  const dns = { nameserver: net.gateway, search: net.search ?? [] };
  return { id: inst.id, tap: { name: tap, mac: guestMac(inst.id) }, ip: inst.ip, prefixlen, gateway: net.gateway, mtu: ctx.mtu, hostLink: tap, dns };
}

/**
 * A namespace and veth. A new one (no namespace yet: the usual case) takes two `ip` processes:
 * one batch on the node (namespace, veth pair, bridge port) and one in the namespace (address,
 * route). A repair looks first and changes only what is wrong.
 */
async function attachVeth(ctx: LinkContext, inst: InstanceConfig, net: NetworkConfig): Promise<AttachedInstance> {
  const { ipt, names, mtu } = ctx;
  const ns = names.netns(inst.id);
  const veth = names.veth(inst.id);
  const prefixlen = parseCidrOrThrow(net.cidr).prefix;
  const port = portCommands(ctx, veth, inst, net);
  const create = [['netns', 'add', ns], ['link', 'add', 'name', veth, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(mtu), 'netns', ns], ...port];
  const clean = () => ipt.batch([['link', 'del', 'dev', veth], ['netns', 'del', ns]], { force: true });
  let fresh = !(await ipt.netnsList()).includes(ns);
  if (fresh) {
    // a veth left by an interrupted attempt makes this fail: clean up and make it again
    await ipt.batch(create).catch(async () => {
      await clean();
      await ipt.batch(create);
    });
  } else if (!(await ipt.link(veth))) {
    // start clean: a half-made pair or namespace from an interrupted attempt
    await clean();
    await ipt.batch(create);
    fresh = true;
  } else {
    await ipt.batch(port);
  }
  // a repair (agent restart) must not disturb a running instance: touch the address only when it is wrong
  const want = `${inst.ip}/${prefixlen}`;
  const have = fresh ? [] : (await ipt.addresses('eth0', ns)).map((a) => `${a.local}/${a.prefixlen}`);
  const readdress = have.length !== 1 || have[0] !== want;
  const dns = { nameserver: net.gateway, search: net.search ?? [] };
  await Promise.all([
    ipt.batch([
      ['link', 'set', 'dev', 'lo', 'up'],
      ...(readdress ? [...(have.length ? [['addr', 'flush', 'dev', 'eth0']] : []), ['addr', 'add', want, 'dev', 'eth0']] : []),
      ['link', 'set', 'dev', 'eth0', 'up'],
      ['route', 'replace', 'default', 'via', net.gateway, 'dev', 'eth0'],
    ], { netns: ns }),
    ctx.writeResolvConf(ns, dns),
  ]);
  return { id: inst.id, netns: ctx.netnsPath(inst.id), netnsName: ns, ip: inst.ip, prefixlen, gateway: net.gateway, mtu, hostLink: veth, dns };
}
