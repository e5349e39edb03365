import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readCounters, TrafficTotals } from './traffic.js';
import { render, removalScript, serviceCounter, type FirewallModel } from './firewall.js';

const r = (source: string, service: string, value: number) => ({ source, service, value });

describe('TrafficTotals', () => {
  it('adds each source\'s increase to its service; a first reading is a baseline', () => {
    const t = new TrafficTotals();
    expect(t.observe([r('a', 'p/web', 500), r('b', 'p/web', 7)])).toEqual([{ project: 'p', service: 'web', connections: 0 }]);
    expect(t.observe([r('a', 'p/web', 530), r('b', 'p/web', 10)])).toEqual([{ project: 'p', service: 'web', connections: 33 }]);
  });

  it('never goes down: a source read lower was re-created and counts from zero', () => {
    const t = new TrafficTotals();
    t.observe([r('a', 'p/web', 100)]);
    t.observe([r('a', 'p/web', 150)]); // +50
    expect(t.observe([r('a', 'p/web', 4)])).toEqual([{ project: 'p', service: 'web', connections: 54 }]);
  });

  it('keeps a service\'s count when one of its sources goes, and forgets a service no source counts', () => {
    const t = new TrafficTotals();
    t.observe([r('a', 'p/web', 0), r('b', 'p/web', 0), r('c', 'p/api', 0)]);
    t.observe([r('a', 'p/web', 10), r('b', 'p/web', 5), r('c', 'p/api', 1)]);
    expect(t.observe([r('a', 'p/web', 12)])).toEqual([{ project: 'p', service: 'web', connections: 17 }]);
  });
});

describe('readCounters', () => {
  const names = new Map([['conn-10-240-10-100-tcp-80', 'p/web']]);
  it('reads the named counters of ours, by service', () => {
    const json = JSON.stringify({ nftables: [{ metainfo: {} }, { counter: { family: 'ip', name: 'conn-10-240-10-100-tcp-80', table: 'stratus', packets: 42, bytes: 2520 } }, { counter: { name: 'other', packets: 1 } }] });
    expect(readCounters(json, names)).toEqual([{ source: 'conn-10-240-10-100-tcp-80', service: 'p/web', value: 42 }]);
  });
  it('reads nothing from what is not nft JSON', () => {
    expect(readCounters('Error: No such file or directory', names)).toEqual([]);
  });

  const nft = process.getuid?.() === 0 && spawnSync('nft', ['--version']).status === 0 && spawnSync('unshare', ['--version']).status === 0;
  it.skipIf(!nft)('reads what nft lists for a rendered ruleset (a throwaway namespace)', () => {
    const vip = '10.240.10.100';
    const m: FirewallModel = {
      table: 'stratus', instanceLinks: ['stv*'], cluster: ['10.240.0.0/12'], instances: [], published: [],
      networks: [{ vni: 0x101, bridge: 'stb101', cidr: '10.240.10.0/24', gateway: '10.240.10.1', trusted: [] }],
      services: [{ key: 'p/web', vip, ports: [{ port: 80, targetPort: 8000, protocol: 'tcp' }], backends: ['10.240.10.10'], userspace: false }],
    };
    const out = spawnSync('unshare', ['--net', 'sh', '-c', 'nft -f - && nft -j list counters table ip stratus'], { input: render(m).full.replace(removalScript('stratus'), '') });
    expect(out.stderr.toString()).toBe('');
    expect(readCounters(out.stdout.toString(), new Map([[serviceCounter(vip, { protocol: 'tcp', port: 80 }), 'p/web']]))).toEqual([{ source: 'conn-10-240-10-100-tcp-80', service: 'p/web', value: 0 }]);
  });
});
