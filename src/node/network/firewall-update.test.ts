import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { render, removalScript, type FirewallModel, type FwInstance, type FwService } from './firewall.js';
import { updateScript } from './firewall-update.js';

const web = (backends: string[]): FwService => ({ key: 'p/web', vip: '10.240.10.100', ports: [{ port: 80, targetPort: 8000, protocol: 'tcp' }], backends, userspace: false });
const a1: FwInstance = { id: 'a1', ip: '10.240.10.10', link: 'stva1' };
const a2: FwInstance = { id: 'a2', ip: '10.240.10.11', link: 'stva2' };
const open = (port: number) => ({ groups: ['g'], rules: [{ protocol: 'tcp' as const, ports: { from: port, to: port }, sources: 'any' as const }] });

const model = (instances: FwInstance[], services: FwService[]): FirewallModel => ({
  table: 'stratus',
  instanceLinks: ['stv*'],
  cluster: ['10.240.0.0/12'],
  networks: [{ vni: 0x101, bridge: 'stb101', vxlan: 'stx101', cidr: '10.240.10.0/24', gateway: '10.240.10.1', trusted: ['10.240.10.250'] }],
  instances,
  published: [],
  services: [...services, { key: 'p/lc', vip: '10.240.10.102', ports: [{ port: 80, targetPort: 80, protocol: 'tcp' }], backends: ['10.240.10.10'], userspace: true }],
});

/** A node's life: instances come, get a security group, services change backends, instances go. */
const steps: FirewallModel[] = [
  model([a1], [web(['10.240.10.10', '10.240.10.12', '10.240.10.13'])]),
  model([a1, a2], [web(['10.240.10.10', '10.240.10.12', '10.240.10.13'])]),
  model([a1, { ...a2, ingress: open(80) }], [web(['10.240.10.10', '10.240.10.12', '10.240.10.13'])]),
  model([a1, { ...a2, ingress: open(8080) }], [web(['10.240.10.12'])]),
  model([a2], [web([])]),
  model([], [web(['10.240.10.12', '10.240.10.13'])]),
];

describe('updateScript', () => {
  it('adds an instance by elements alone: its address, hairpin pair and veth source', () => {
    expect(updateScript('stratus', render(steps[0]!), render(steps[1]!))).toBe([
      'add element ip stratus locals { 10.240.10.11 }',
      'add element ip stratus hairpin { 10.240.10.11 . 10.240.10.11 }',
      'add element bridge stratus sources { "stva2" . 10.240.10.11 }',
    ].map((l) => `${l}\n`).join(''));
  });

  it('makes a security group a chain and a map element; removes them in the order nft needs', () => {
    expect(updateScript('stratus', render(steps[1]!), render(steps[2]!))).toBe([
      'add chain ip stratus in-10-240-10-11',
      'add rule ip stratus in-10-240-10-11 ip saddr @trusted accept',
      'add rule ip stratus in-10-240-10-11 tcp dport 80 accept',
      'add rule ip stratus in-10-240-10-11 drop',
      'add element ip stratus ingress { 10.240.10.11 : jump in-10-240-10-11 }',
    ].map((l) => `${l}\n`).join(''));
    const script = updateScript('stratus', render(steps[3]!), render(steps[4]!))!;
    expect(script).toContain('delete element ip stratus ingress { 10.240.10.11 }');
    expect(script.indexOf('delete element ip stratus services')).toBeLessThan(script.indexOf('delete chain ip stratus svc-10-240-10-100-tcp-80'));
    expect(script.trim().split('\n').slice(-2).sort()).toEqual(['delete chain ip stratus in-10-240-10-11', 'delete chain ip stratus svc-10-240-10-100-tcp-80']);
    // the service is still here (without backends): its connection counter stays
    expect(script).not.toContain('counter');
  });

  it('removes a service\'s connection counter with the service, after the chain that names it', () => {
    const script = updateScript('stratus', render(steps[3]!), render(model([a1], [])))!;
    expect(script.trim().split('\n').at(-1)).toBe('delete counter ip stratus conn-10-240-10-100-tcp-80');
  });

  it('changes backends by rewriting only their chain', () => {
    expect(updateScript('stratus', render(steps[2]!), render(model([a1, { ...a2, ingress: open(80) }], [web(['10.240.10.12'])])))).toBe(
      'flush chain ip stratus svc-10-240-10-100-tcp-80\nadd rule ip stratus svc-10-240-10-100-tcp-80 meta l4proto tcp counter name "conn-10-240-10-100-tcp-80" dnat to 10.240.10.12:8000\n',
    );
  });

  it('needs a full reload when the skeleton changes, and nothing when nothing changed', () => {
    const published = { ...steps[1]!, published: [{ hostPort: 8080, protocol: 'tcp' as const, ip: a1.ip, port: 80 }] };
    expect(updateScript('stratus', render(steps[1]!), render(published))).toBeUndefined();
    expect(updateScript('stratus', render(steps[1]!), render({ ...steps[1]!, networks: [], instances: [], services: [] }))).toBeUndefined(); // nothing of ours left: remove the tables
    expect(updateScript('stratus', render(steps[1]!), render(steps[1]!))).toBe('');
  });

  const nft = process.getuid?.() === 0 && spawnSync('nft', ['--version']).status === 0 && spawnSync('unshare', ['--version']).status === 0;
  it.skipIf(!nft)('leaves nftables exactly as a full load of the same model would (checked in throwaway namespaces)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-fw-'));
    try {
      const files = steps.map((m, i) => {
        const script = i === 0 ? render(m).full.replace(removalScript('stratus'), '') : updateScript('stratus', render(steps[i - 1]!), render(m));
        expect(script, `step ${i}`).toBeDefined();
        const f = join(dir, `step${i}.nft`);
        writeFileSync(f, script!);
        return f;
      });
      for (let i = 1; i < steps.length; i++) {
        const full = join(dir, `full${i}.nft`);
        writeFileSync(full, render(steps[i]!).full.replace(removalScript('stratus'), ''));
        expect(listAfter(files.slice(0, i + 1)), `after step ${i}`).toEqual(listAfter([full]));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** `nft -j list ruleset` after loading `files` in a new network namespace, normalized: no handles, set elements sorted, objects by name. */
function listAfter(files: string[]): unknown {
  const r = spawnSync('unshare', ['--net', 'sh', '-c', `${files.map((f) => `nft -f ${f}`).join(' && ')} && nft -j list ruleset`]);
  expect(r.stderr.toString()).toBe('');
  const items = (JSON.parse(r.stdout.toString()) as { nftables: Record<string, Record<string, unknown>>[] }).nftables;
  const out: Record<string, unknown> = {};
  const rules: Record<string, unknown[]> = {};
  for (const item of items) {
    const [type, body] = Object.entries(item)[0]!;
    if (type === 'metainfo') continue;
    const { handle: _h, ...rest } = body as Record<string, unknown>;
    if (Array.isArray(rest.elem)) rest.elem = rest.elem.map((e) => JSON.stringify(e)).sort();
    if (type === 'rule') (rules[`${rest.family} ${rest.chain}`] ??= []).push(rest.expr);
    else out[`${type} ${rest.family} ${rest.name}`] = rest;
  }
  return { out, rules };
}
