/** The network and security-group kinds (src/model/kinds/), tested here beside the code that reads them. */
import { describe, expect, it } from 'vitest';
import { parseObject, type Kind } from '../kind.js';
import { ValidationError } from '../errors.js';
import { findKind, instanceKind, networkKind, securityGroupKind } from './index.js';

function problems(kind: Kind, spec: unknown): string[] {
  try {
    parseObject(kind, { metadata: { name: 'x' }, spec });
    return [];
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    return e.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

describe('network kind', () => {
  it('is registered under its names', () => {
    expect(findKind('net')).toBe(networkKind);
    expect(findKind('networks')).toBe(networkKind);
  });

  it('accepts an empty spec (a range from the pool) and a valid cidr', () => {
    expect(parseObject(networkKind, { metadata: { name: 'n' }, spec: {} }).spec).toEqual({});
    expect(parseObject(networkKind, { metadata: { name: 'n' }, spec: { cidr: '' } }).spec).toEqual({});
    expect(parseObject(networkKind, { metadata: { name: 'n' }, spec: { cidr: '10.50.0.0/24' } }).spec).toEqual({ cidr: '10.50.0.0/24' });
  });

  it.each([
    ['10.50.0.1/24', 'spec.cidr: "10.50.0.1/24" has host bits set; did you mean "10.50.0.0/24"?'],
    ['10.0.0.0/8', 'spec.cidr: "10.0.0.0/8" has prefix /8; use a prefix between /16 and /28'],
    ['10.50.0.0/30', 'spec.cidr: "10.50.0.0/30" has prefix /30; use a prefix between /16 and /28'],
    ['10.50.0.0', 'spec.cidr: "10.50.0.0" is not a CIDR (use e.g. "10.240.0.0/24")'],
    ['300.1.1.0/24', 'spec.cidr: "300.1.1.0/24" is not a CIDR'],
  ])('refuses cidr %j', (cidr, message) => {
    expect(problems(networkKind, { cidr })[0]).toContain(message);
  });

  it('keeps the cidr fixed', () => {
    expect(networkKind.checkUpdate!({ cidr: '10.1.0.0/24' }, { cidr: '10.2.0.0/24' })[0]!.message).toContain('cannot be changed');
    expect(networkKind.checkUpdate!({}, { description: 'x' })).toEqual([]);
  });
});

describe('security-group kind', () => {
  it('is registered under its names', () => {
    expect(findKind('sg')).toBe(securityGroupKind);
    expect(findKind('security-group')).toBe(securityGroupKind);
    expect(findKind('securitygroups')).toBe(securityGroupKind);
  });

  it('canonicalizes the selector and accepts typical rules', () => {
    const { spec } = parseObject(securityGroupKind, {
      metadata: { name: 'web' },
      spec: {
        selector: 'app = web',
        ingress: [
          { protocol: 'tcp', ports: '80' },
          { protocol: 'tcp', ports: '8000-8100', from: { cidr: '10.240.3.0/24' } },
          { protocol: 'tcp', ports: '8000-8100', from: { group: 'lb' } },
          { protocol: 'udp', ports: '53', from: { cidr: '0.0.0.0/0' } },
          { protocol: 'icmp' },
        ],
      },
    });
    expect((spec as { selector: string }).selector).toBe('app=web');
  });

  it.each([
    [{ ingress: [{ protocol: 'tcp', ports: '90-80' }] }, 'spec.ingress[0].ports: "90-80": the range is reversed; write "80-90"'],
    [{ ingress: [{ protocol: 'tcp', ports: '70000' }] }, 'spec.ingress[0].ports: "70000": port 70000 is outside 1-65535'],
    [{ ingress: [{ protocol: 'tcp', ports: 'http' }] }, 'spec.ingress[0].ports: "http" is not a port or port range'],
    [{ ingress: [{ protocol: 'icmp', ports: '80' }] }, 'spec.ingress[0].ports: icmp has no ports; leave "ports" out'],
    [{ ingress: [{ protocol: 'sctp' }] }, 'spec.ingress[0].protocol: "sctp" is not one of: tcp, udp, icmp'],
    [{ ingress: [{ protocol: 'tcp', from: { cidr: '10.0.0.1/8' } }] }, 'spec.ingress[0].from.cidr: "10.0.0.1/8" has host bits set; did you mean "10.0.0.0/8"?'],
    [{ ingress: [{ protocol: 'tcp', from: {} }] }, 'spec.ingress[0].from: is empty; give a cidr or a group'],
    [{ ingress: [{ protocol: 'tcp', from: { cidr: '10.0.0.0/8', group: 'x' } }] }, 'spec.ingress[0].from: names both a cidr and a group'],
    [{ ingress: [{ protocol: 'tcp', from: { group: 'Not_A_Label' } }] }, 'spec.ingress[0].from.group: "Not_A_Label" is not a DNS label'],
    [{ ingress: [{ protocol: 'tcp', ports: '80-90' }, { protocol: 'tcp', ports: '85' }] }, 'spec.ingress[1].ports: tcp 85 from anywhere overlaps ingress[0] (tcp 80-90 from anywhere); merge them into one rule'],
    [{ ingress: [{ protocol: 'tcp' }, { protocol: 'tcp', ports: '22' }] }, 'spec.ingress[1].ports: tcp 22 from anywhere overlaps ingress[0] (tcp from anywhere)'],
    [{ ingress: [{ protocol: 'icmp', from: { group: 'a' } }, { protocol: 'icmp', from: { group: 'a' } }] }, 'spec.ingress[1]: icmp from group a overlaps ingress[0]'],
    [{ selector: 'app in (', ingress: [] }, 'spec.selector:'],
    [{}, 'spec.ingress: is required'],
  ])('refuses %j', (spec, message) => {
    expect(problems(securityGroupKind, spec)).toEqual(expect.arrayContaining([expect.stringContaining(message)]));
  });

  it('allows the same ports from different sources or protocols', () => {
    expect(problems(securityGroupKind, {
      ingress: [
        { protocol: 'tcp', ports: '80', from: { cidr: '10.0.0.0/8' } },
        { protocol: 'tcp', ports: '80', from: { group: 'a' } },
        { protocol: 'udp', ports: '80', from: { cidr: '10.0.0.0/8' } },
      ],
    })).toEqual([]);
  });
});

describe('instance.spec.network', () => {
  it('is optional and must be a DNS label', () => {
    const base = { driver: 'process', command: ['true'] };
    expect(parseObject(instanceKind, { metadata: { name: 'i' }, spec: base }).spec).not.toHaveProperty('network');
    expect(parseObject(instanceKind, { metadata: { name: 'i' }, spec: { ...base, network: 'back' } }).spec).toMatchObject({ network: 'back' });
    expect(problems(instanceKind, { ...base, network: 'Back_End' })[0]).toContain('spec.network: "Back_End" is not a DNS label');
  });
});
