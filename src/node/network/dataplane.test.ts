/** The dataplane's commands, recorded instead of run (no root needed). The namespace tests under test/ run them for real. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingRunner, type RunResult } from './exec.js';
import { Dataplane, resolvConf, type NetworkConfig } from './dataplane.js';
import { Naming, bridgeMac, guestMac, shortHash } from './names.js';
import { HostPorts, probeNetworking } from './capabilities.js';

const NET: NetworkConfig = { project: 'p', name: 'default', vni: 0x101, cidr: '10.240.1.0/24', gateway: '10.240.1.1', nodeAddress: '10.240.1.250', peers: [{ underlay: '192.0.2.2', address: '10.240.1.251' }], search: ['p.stratus'] };

function setup(links: unknown[] = [], answer: (argv: readonly string[]) => Partial<RunResult> | undefined = () => undefined) {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-dp-'));
  const netnsDir = join(dir, 'netns');
  const etcNetnsDir = join(dir, 'etc');
  mkdirSync(netnsDir);
  const sysctls: string[] = [];
  const runner = new RecordingRunner((argv) => {
    const answered = answer(argv);
    if (answered) return answered;
    if (argv.join(' ') === 'ip -j -d addr show') return { stdout: JSON.stringify(links) };
    if (argv[1] === '-j' && argv.includes('link')) return { code: 1, stderr: 'Device does not exist' };
    return undefined;
  });
  const dp = new Dataplane({ node: 'n1', underlay: { ip: '192.0.2.1', dev: 'eth0' }, runner, netnsDir, etcNetnsDir, sysctl: async (k, v) => void sysctls.push(`${k}=${v}`) });
  const cmds = () => runner.calls.map((c) => [c.argv.join(' '), ...(c.input ? c.input.trim().split('\n').map((l) => `  ${l}`) : [])].join('\n'));
  return { dp, runner, netnsDir, etcNetnsDir, sysctls, cmds };
}

describe('Dataplane commands', () => {
  it('creates a network: bridge (node address first, then the gateway), VXLAN, flood list, rules', async () => {
    const { dp, runner, sysctls, cmds } = setup();
    await dp.ensureNetwork(NET);
    expect(sysctls).toEqual(['net.ipv4.ip_forward=1', 'net.bridge.bridge-nf-call-iptables=1', 'net.ipv4.conf.stb101.route_localnet=1']);
    expect(cmds().slice(0, 3)).toEqual([
      'ip -j -d addr show',
      [
        'ip -batch -',
        `  link add name stb101 address ${bridgeMac('n1', 0x101)} mtu 1450 type bridge`,
        '  addr add 10.240.1.250/24 dev stb101',
        '  addr add 10.240.1.1/24 dev stb101',
        '  link set dev stb101 up',
        '  link add name stx101 mtu 1450 type vxlan id 257 local 192.0.2.1 dstport 4789 dev eth0',
        '  link set dev stx101 master stb101 up',
      ].join('\n'),
      'bridge -force -batch -\n  fdb append 00:00:00:00:00:00 dev stx101 dst 192.0.2.2',
    ]);
    expect(runner.calls[3]!.argv).toEqual(['nft', '-f', '-']);
    expect(runner.calls[3]!.input).toContain('ip saddr 10.240.1.0/24 ip daddr 10.240.1.0/24 accept');
  });

  it('re-ensuring an intact network changes nothing, and repairs only what is wrong', async () => {
    const links = [
      { ifname: 'stb101', flags: ['UP'], addr_info: [{ family: 'inet', local: '10.240.1.250', prefixlen: 24 }, { family: 'inet', local: '10.240.1.1', prefixlen: 24, secondary: true }, { family: 'inet', local: '10.240.1.99', prefixlen: 32 }] },
      { ifname: 'stx101', flags: ['UP'], master: 'stb101', linkinfo: { info_kind: 'vxlan' } },
    ];
    const { dp, cmds } = setup(links);
    await dp.ensureNetwork(NET);
    expect(cmds()[1]).toBe('ip -batch -\n  addr del 10.240.1.99/32 dev stb101'); // a VIP no service has any more
  });

  it('attaches an instance in two ip processes (namespace, veth with hairpin; address, default route) and its rules by elements', async () => {
    const { dp, runner, etcNetnsDir, cmds } = setup();
    await dp.ensureNetwork(NET);
    runner.calls.length = 0;
    const a = await dp.attachInstance({ id: 'uid-1', project: 'p', name: 'web', vni: 0x101, ip: '10.240.1.10' });
    const h = shortHash('uid-1');
    expect(a).toMatchObject({ netnsName: `stratus-${h}`, hostLink: `stv${h}`, ip: '10.240.1.10', prefixlen: 24, gateway: '10.240.1.1', mtu: 1450 });
    expect(a.netns.endsWith(`/netns/stratus-${h}`)).toBe(true);
    // the links and the rules are made concurrently
    expect(cmds().sort()).toEqual([
      [
        'ip -batch -',
        `  netns add stratus-${h}`,
        `  link add name stv${h} mtu 1450 type veth peer name eth0 mtu 1450 netns stratus-${h}`,
        `  link set dev stv${h} master stb101`,
        `  link set dev stv${h} type bridge_slave hairpin on`,
        `  link set dev stv${h} alias stratus:p/web`,
        `  link set dev stv${h} up`,
      ].join('\n'),
      [
        `ip -n stratus-${h} -batch -`,
        '  link set dev lo up',
        '  addr add 10.240.1.10/24 dev eth0',
        '  link set dev eth0 up',
        '  route replace default via 10.240.1.1 dev eth0',
      ].join('\n'),
      [
        'nft -f -',
        '  add element ip stratus locals { 10.240.1.10 }',
        '  add element ip stratus hairpin { 10.240.1.10 . 10.240.1.10 }',
        `  add element bridge stratus sources { "stv${h}" . 10.240.1.10 }`,
      ].join('\n'),
    ].sort());
    expect(readFileSync(join(etcNetnsDir, `stratus-${h}`, 'resolv.conf'), 'utf8')).toBe(resolvConf({ nameserver: '10.240.1.1', search: ['p.stratus'] }));
    await dp.detachInstance('uid-1');
    expect(cmds()).toContain(`ip -force -batch -\n  link del dev stv${h}\n  link del dev stt${h}\n  netns del stratus-${h}`);
    expect(cmds().at(-1)).toBe('nft -f -\n  delete element ip stratus locals { 10.240.1.10 }\n  delete element ip stratus hairpin { 10.240.1.10 . 10.240.1.10 }\n  delete element bridge stratus sources { "stv' + h + '" . 10.240.1.10 }');
    expect(existsSync(join(etcNetnsDir, `stratus-${h}`))).toBe(false);
  });

  it('repairs an attached instance without touching a right address, and remakes a half-made one', async () => {
    const h = shortHash('uid-1');
    const { dp, runner, netnsDir, cmds } = setup();
    await dp.ensureNetwork(NET);
    writeFileSync(join(netnsDir, `stratus-${h}`), ''); // a namespace without its veth: an interrupted attempt
    runner.calls.length = 0;
    await dp.attachInstance({ id: 'uid-1', project: 'p', name: 'web', vni: 0x101, ip: '10.240.1.10' });
    expect(cmds().filter((c) => c.startsWith('ip ')).slice(0, 3)).toEqual([
      `ip -j -d link show dev stv${h}`,
      `ip -force -batch -\n  link del dev stv${h}\n  netns del stratus-${h}`,
      expect.stringContaining(`netns add stratus-${h}`),
    ]);
  });

  it('reloads the whole ruleset when an update by elements fails (tables changed behind its back)', async () => {
    let refuse = false;
    const { dp, runner } = setup([], (argv) => (argv[0] === 'nft' && refuse ? ((refuse = false), { code: 1, stderr: 'No such file or directory' }) : undefined));
    await dp.ensureNetwork(NET);
    refuse = true;
    runner.calls.length = 0;
    await dp.attachInstance({ id: 'uid-1', project: 'p', name: 'web', vni: 0x101, ip: '10.240.1.10' });
    const nft = runner.calls.filter((c) => c.argv[0] === 'nft').map((c) => c.input!);
    expect(nft).toHaveLength(2);
    expect(nft[0]).toMatch(/^add element/);
    expect(nft[1]).toMatch(/^table ip stratus \{\}\ndelete table ip stratus/);
  });

  it('refuses an instance of a network it does not have', async () => {
    const { dp } = setup();
    await expect(dp.attachInstance({ id: 'x', project: 'p', name: 'x', vni: 9, ip: '10.0.0.2' })).rejects.toThrow('call ensureNetwork first');
  });

  it('cleans up links and namespaces of ours it does not know, and nothing else', async () => {
    const stale = shortHash('old');
    const links = [{ ifname: 'eth0' }, { ifname: 'stb2a' }, { ifname: 'stx2a' }, { ifname: `stv${stale}` }, { ifname: `stt${stale}` }, { ifname: 'stvnot-ours' }, { ifname: 'docker0' }];
    const { dp, netnsDir, cmds } = setup(links);
    for (const n of [`stratus-${stale}`, 'stratus-probe-1', 'other']) writeFileSync(join(netnsDir, n), '');
    const removed = await dp.cleanupLeftovers();
    expect(removed).toEqual({ links: ['stb2a', 'stx2a', `stv${stale}`, `stt${stale}`], netns: [`stratus-${stale}`], tables: [] });
    expect(cmds()).toContain(`ip -force -batch -\n  link del dev stb2a\n  link del dev stx2a\n  link del dev stv${stale}\n  link del dev stt${stale}\n  netns del stratus-${stale}`);
  });
});

describe('Dataplane taps (VMs)', () => {
  const VM = { id: 'vm-1', project: 'p', name: 'vm', vni: 0x101, ip: '10.240.1.20', tap: { uid: 1179648, gid: 1179648 } };
  const h = shortHash('vm-1');

  it('attaches a VM as a tap owned by QEMU\'s uid on the bridge, with the same source rule as a veth, and no namespace', async () => {
    const { dp, runner, cmds } = setup();
    await dp.ensureNetwork(NET);
    runner.calls.length = 0;
    const a = await dp.attachTap(VM);
    expect(a).toEqual({ id: 'vm-1', tap: { name: `stt${h}`, mac: guestMac('vm-1') }, ip: '10.240.1.20', prefixlen: 24, gateway: '10.240.1.1', mtu: 1450, hostLink: `stt${h}`, dns: { nameserver: '10.240.1.1', search: ['p.stratus'] } });
    expect(cmds()).toContain([
      'ip -batch -',
      `  tuntap add dev stt${h} mode tap user 1179648 group 1179648`,
      `  link set dev stt${h} mtu 1450`,
      `  link set dev stt${h} master stb101`,
      `  link set dev stt${h} type bridge_slave hairpin on`,
      `  link set dev stt${h} alias stratus:p/vm`,
      `  link set dev stt${h} up`,
    ].join('\n'));
    expect(cmds().some((c) => c.includes('netns'))).toBe(false);
    // frames from the tap must carry the VM's address, like a veth's (the wildcard covers taps)
    expect(cmds()).toContain(`nft -f -\n  add element ip stratus locals { 10.240.1.20 }\n  add element ip stratus hairpin { 10.240.1.20 . 10.240.1.20 }\n  add element bridge stratus sources { "stt${h}" . 10.240.1.20 }`);
    expect(dp.ruleset()).toContain('iifname { "stv*", "stt*" } ether type ip iifname . ip saddr != @sources drop');
    await dp.detachInstance('vm-1');
    expect(cmds()).toContain(`ip -force -batch -\n  link del dev stv${h}\n  link del dev stt${h}\n  netns del stratus-${h}`);
    expect(dp.ruleset()).not.toContain(`stt${h}`);
  });

  it('makes a tap only root opens when no owner is given (QEMU opens it as root, then drops privileges)', async () => {
    const { dp, cmds } = setup();
    await dp.ensureNetwork(NET);
    await dp.attachTap({ ...VM, tap: {} });
    expect(cmds()).toContainEqual(expect.stringContaining(`  tuntap add dev stt${h} mode tap\n`));
  });

  it('keeps a tap that exists (QEMU may hold it open) and only re-applies its bridge port', async () => {
    const { dp, runner, cmds } = setup([], (argv) => (argv.join(' ') === `ip -j -d link show dev stt${h}` ? { stdout: JSON.stringify([{ ifname: `stt${h}`, flags: ['UP'] }]) } : undefined));
    await dp.ensureNetwork(NET);
    runner.calls.length = 0;
    await dp.attachTap(VM);
    const ip = cmds().filter((c) => c.startsWith('ip -batch'));
    expect(ip).toHaveLength(1);
    expect(ip[0]).not.toContain('tuntap');
    expect(ip[0]).toContain(`link set dev stt${h} master stb101`);
  });

  it('keeps a known VM\'s tap when cleaning up, and refuses a tap instance through attachInstance', async () => {
    const { dp, cmds } = setup([{ ifname: `stt${h}` }]);
    await dp.ensureNetwork(NET);
    await dp.attachTap(VM);
    expect((await dp.cleanupLeftovers()).links).toEqual([]);
    expect(cmds().some((c) => c.startsWith('ip -force') && c.includes(`link del dev stt${h}`))).toBe(false);
    await expect(dp.attachInstance(VM)).rejects.toThrow('attach it with attachTap');
  });
});

describe('names', () => {
  const n = new Naming();
  it('fit in 15 characters and map back', () => {
    for (const name of [n.bridge(0xffffff), n.vxlan(0xffffff), n.veth('any id at all'), n.tap('any id at all')]) expect(name.length).toBeLessThanOrEqual(15);
    expect(n.vniOf(n.bridge(0xabcdef), 'b')).toBe(0xabcdef);
    expect(n.vniOf(n.vxlan(7), 'b')).toBeUndefined();
    expect(n.isVeth(n.veth('x'))).toBe(true);
    expect(n.isTap(n.tap('x'))).toBe(true);
    expect(n.isVeth(n.tap('x'))).toBe(false);
    expect(n.isNetns(n.netns('x'))).toBe(true);
    expect(n.isNetns('stratus-probe-12')).toBe(false);
  });

  it('gives bridges stable, locally administered unicast MACs that differ per node', () => {
    const mac = bridgeMac('node-1', 5);
    expect(mac).toBe(bridgeMac('node-1', 5));
    expect(mac).not.toBe(bridgeMac('node-2', 5));
    expect(parseInt(mac.slice(0, 2), 16) & 0b11).toBe(0b10);
    // a VM's NIC: stable per instance, locally administered unicast, its own per instance
    expect(guestMac('vm-1')).toBe(guestMac('vm-1'));
    expect(guestMac('vm-1')).not.toBe(guestMac('vm-2'));
    expect(parseInt(guestMac('vm-1').slice(0, 2), 16) & 0b11).toBe(0b10);
  });

  it('refuses prefixes that could collide with other software', () => {
    expect(() => new Naming({ linkPrefix: 'toolong' })).toThrow('1-4 lowercase');
  });
});

describe('probeNetworking', () => {
  it('falls back to host networking without root, and says so', async () => {
    const caps = await probeNetworking({ uid: 1000, runner: new RecordingRunner() });
    expect(caps).toMatchObject({ mode: 'host', summary: 'host networking (no root / no netns): not running as root' });
  });

  it('falls back when namespaces cannot be created', async () => {
    const runner = new RecordingRunner((argv) => (argv.join(' ').startsWith('ip netns add') ? { code: 1, stderr: 'Operation not permitted' } : undefined));
    expect((await probeNetworking({ uid: 0, runner })).summary).toBe('host networking (no root / no netns): cannot create a network namespace: Operation not permitted');
  });

  it('reports the overlay, and a single node without VXLAN', async () => {
    const runner = new RecordingRunner((argv) => (argv.includes('vxlan') ? { code: 2, stderr: 'Unknown device type' } : undefined));
    const caps = await probeNetworking({ uid: 0, runner, probeName: 'p' });
    expect(caps).toMatchObject({ mode: 'overlay', vxlan: false, summary: 'overlay: bridge per network, single node (no VXLAN), nftables' });
    expect(runner.calls.at(-1)!.argv).toEqual(['ip', 'netns', 'del', 'p']);
  });
});

describe('HostPorts', () => {
  it('gives each declared port a free host port (or its published one), stable per instance', async () => {
    const busy = new Set([20000]);
    const ports = new HostPorts({ from: 20000, to: 20003 }, async (p) => !busy.has(p));
    const a = await ports.allocate('a', [{ port: 80 }, { port: 9000, publish: 8080 }]);
    expect([...a]).toEqual([[80, 20001], [9000, 8080]]);
    expect(await ports.allocate('a', [{ port: 80 }])).toBe(a);
    expect([...(await ports.allocate('b', [{ port: 80 }, { port: 81 }]))]).toEqual([[80, 20002], [81, 20003]]);
    await expect(ports.allocate('c', [{ port: 80 }])).rejects.toThrow('no free host port left in 20000-20003');
    ports.release('a');
    expect([...(await ports.allocate('c', [{ port: 80 }]))]).toEqual([[80, 20001]]);
    expect(HostPorts.env(a)).toEqual({ PORT: '20001', PORT_80: '20001', PORT_9000: '8080' });
  });
});
