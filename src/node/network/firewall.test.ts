import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { ingressChain, PUBLISHED_MARK, removalScript, renderRuleset, serviceChain, type FirewallModel } from './firewall.js';
import { PolicyResolver } from './policy.js';

const model = (over: Partial<FirewallModel> = {}): FirewallModel => ({
  table: 'stratus',
  instanceLinks: ['stv*'],
  cluster: ['10.240.0.0/12'],
  networks: [
    { vni: 0x101, bridge: 'stb101', vxlan: 'stx101', cidr: '10.240.10.0/24', gateway: '10.240.10.1', trusted: ['10.240.10.250', '10.240.10.251'] },
    { vni: 0x102, bridge: 'stb102', vxlan: 'stx102', cidr: '10.240.11.0/24', gateway: '10.240.11.1', trusted: ['10.240.11.250'] },
  ],
  instances: [
    { id: 'a1', ip: '10.240.10.10', link: 'stva1' },
    { id: 'b1', ip: '10.240.11.10', link: 'stvb1', ingress: { groups: ['web'], rules: [{ protocol: 'tcp', ports: { from: 8080, to: 8080 }, sources: ['10.240.10.0/24', '10.240.10.7'] }, { protocol: 'icmp', sources: 'any' }, { protocol: 'udp', sources: [] }] } },
  ],
  published: [{ hostPort: 8080, protocol: 'tcp', ip: '10.240.10.10', port: 80 }],
  services: [
    { key: 'alpha/web', vip: '10.240.10.100', ports: [{ port: 80, targetPort: 8000, protocol: 'tcp', publish: 8081 }], backends: ['10.240.10.10', '10.240.10.11', '10.240.10.12'], userspace: false },
    { key: 'alpha/one', vip: '10.240.10.101', ports: [{ port: 53, targetPort: 53, protocol: 'udp' }], backends: ['10.240.10.10'], userspace: false },
    { key: 'alpha/lc', vip: '10.240.10.102', ports: [{ port: 80, targetPort: 80, protocol: 'tcp' }], backends: ['10.240.10.10'], userspace: true },
    { key: 'alpha/none', vip: '10.240.10.103', ports: [{ port: 80, targetPort: 80, protocol: 'tcp' }], backends: [], userspace: false },
  ],
  ...over,
});

const lines = (text: string) => text.split('\n').map((l) => l.trim());

describe('renderRuleset', () => {
  const text = renderRuleset(model());
  const all = lines(text);

  it('replaces our tables atomically and touches nothing else', () => {
    expect(text.startsWith(removalScript('stratus'))).toBe(true);
    expect(all.filter((l) => l.startsWith('table '))).toEqual(['table ip stratus {}', 'table bridge stratus {}', 'table ip stratus {', 'table bridge stratus {']);
  });

  it.each([
    // isolation: each network reaches itself; anything else into a network is dropped; no leaking to ranges elsewhere
    ['ip saddr 10.240.10.0/24 ip daddr 10.240.10.0/24 accept'],
    ['ip saddr 10.240.11.0/24 ip daddr 10.240.11.0/24 accept'],
    ['ip daddr @nets drop'],
    ['ip saddr @nets ip daddr @cluster drop'],
    ['ct state established,related accept'],
    // security groups: governed instances jump to their chain, which ends in drop
    ['ip daddr vmap @ingress'],
    [`elements = { 10.240.11.10 : jump ${ingressChain('10.240.11.10')} }`],
    ['meta l4proto icmp accept'],
    ['ip saddr @trusted accept'],
    // round-robin DNAT over three backends, one backend without numgen, published service and instance ports
    ['elements = { 10.240.10.100 . tcp . 80 : jump svc-10-240-10-100-tcp-80, 10.240.10.101 . udp . 53 : jump svc-10-240-10-101-udp-53 }'],
    ['meta l4proto tcp counter name "conn-10-240-10-100-tcp-80" dnat to numgen inc mod 3 map { 0 : 10.240.10.10 . 8000, 1 : 10.240.10.11 . 8000, 2 : 10.240.10.12 . 8000 }'],
    ['meta l4proto udp counter name "conn-10-240-10-101-udp-53" dnat to 10.240.10.10:53'],
    [`fib daddr type local ip daddr != @anycast tcp dport 8080 ct mark set ct mark | 0x0${PUBLISHED_MARK.toString(16)} dnat to 10.240.10.10:80`],
    [`fib daddr type local ip daddr != @anycast tcp dport 8081 ct mark set ct mark | 0x0${PUBLISHED_MARK.toString(16)} jump ${serviceChain('10.240.10.100', { protocol: 'tcp', port: 80 })}`],
    // NAT: hairpin, node → VIP, published to another node, egress
    ['ct status dnat ip saddr . ip daddr @hairpin masquerade'],
    ['elements = { 10.240.10.10 . 10.240.10.10, 10.240.11.10 . 10.240.11.10 }'],
    ['ip saddr @anycast masquerade'],
    ['ip saddr @nets ip daddr != @cluster masquerade'],
    // the node itself: DNS on the gateways, the userspace balancer's port, a quick refusal for the rest of the VIPs
    ['iifname { "stb101", "stb102" } jump from-instances'],
    ['ip daddr { 10.240.10.1, 10.240.11.1 } meta l4proto { tcp, udp } th dport 53 accept'],
    ['ip daddr . meta l4proto . th dport @proxied accept'],
    ['elements = { 10.240.10.102 . tcp . 80 }'],
    ['ip daddr @anycast meta l4proto tcp reject with tcp reset'],
    // instances send from their own address only, no IPv6; ARP for shared addresses stays on the node
    ['elements = { "stva1" . 10.240.10.10, "stvb1" . 10.240.11.10 }'],
    ['iifname "stv*" ether type ip iifname . ip saddr != @sources drop'],
    ['iifname "stv*" ether type arp iifname . arp saddr ip != @sources drop'],
    ['iifname "stv*" ether type ip6 drop'],
    ['oifname { "stx101", "stx102" } arp daddr ip @anycast drop'],
    ['elements = { 10.240.10.1, 10.240.11.1, 10.240.10.100, 10.240.10.101, 10.240.10.102, 10.240.10.103 }'],
  ])('has %s', (line) => {
    expect(all).toContain(line);
  });

  it('drops CIDR entries covered by others, and rules whose source list is empty', () => {
    expect(all).toContain('ip saddr 10.240.10.0/24 tcp dport 8080 accept'); // 10.240.10.7 is inside the /24
    expect(all.filter((l) => l.includes('udp') && l.startsWith('ip saddr {'))).toEqual([]);
  });

  it('gives a service without backends no DNAT (the input chain refuses it) and a userspace one no DNAT either', () => {
    expect(text).not.toContain('svc-10-240-10-103');
    expect(text).not.toContain('svc-10-240-10-102');
  });

  it('renders only the removal when nothing is left', () => {
    expect(renderRuleset(model({ networks: [], instances: [], services: [], published: [] }))).toBe(removalScript('stratus'));
  });

  const nftCheck = process.getuid?.() === 0 && spawnSync('nft', ['--version']).status === 0 && spawnSync('unshare', ['--version']).status === 0;
  it.skipIf(!nftCheck)('is accepted by nft (checked in a throwaway network namespace)', () => {
    for (const m of [model(), model({ networks: [model().networks[0]!], instances: [], services: [], published: [] })]) {
      const r = spawnSync('unshare', ['--net', 'nft', '-c', '-f', '-'], { input: renderRuleset(m).replace(removalScript('stratus'), '') });
      expect(r.stderr.toString()).toBe('');
      expect(r.status).toBe(0);
    }
  });
});

describe('PolicyResolver', () => {
  const endpoints = [
    { project: 'p', name: 'web1', ip: '10.0.0.2', labels: { app: 'web' } },
    { project: 'p', name: 'web2', ip: '10.0.0.3', labels: { app: 'web' } },
    { project: 'p', name: 'lb', ip: '10.0.0.4', labels: { app: 'lb' } },
    { project: 'q', name: 'lb', ip: '10.1.0.4', labels: { app: 'lb' } },
  ];
  const groups = [
    { project: 'p', name: 'web', spec: { selector: 'app=web', ingress: [{ protocol: 'tcp' as const, ports: '80', from: { group: 'lbs' } }, { protocol: 'tcp' as const, ports: '9000-9100' }] } },
    { project: 'p', name: 'lbs', spec: { selector: 'app=lb', ingress: [{ protocol: 'icmp' as const, from: { cidr: '192.168.0.0/16' } }] } },
    { project: 'p', name: 'ghost', spec: { selector: 'app=none', ingress: [{ protocol: 'tcp' as const, from: { group: 'missing' } }] } },
    { project: 'q', name: 'all', spec: { ingress: [] } },
  ];
  const r = new PolicyResolver(endpoints, groups);

  it('resolves group sources to the member addresses of the same project', () => {
    expect(r.ingressFor(endpoints[0]!)).toEqual({
      groups: ['web'],
      rules: [
        { protocol: 'tcp', ports: { from: 80, to: 80 }, sources: ['10.0.0.4'] }, // not q's lb
        { protocol: 'tcp', ports: { from: 9000, to: 9100 }, sources: 'any' },
      ],
    });
  });

  it('leaves unselected instances to the default, and an empty selector selects the whole project', () => {
    expect(r.ingressFor({ project: 'p', name: 'x', ip: '10.0.0.9', labels: { app: 'other' } })).toBeUndefined();
    expect(r.ingressFor(endpoints[3]!)).toEqual({ groups: ['all'], rules: [] }); // selected, nothing allowed
    expect(r.ingressFor(endpoints[2]!)!.rules).toEqual([{ protocol: 'icmp', sources: ['192.168.0.0/16'] }]);
  });
});
