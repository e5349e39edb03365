import { describe, it, expect } from 'vitest';
import { auditKeys, bootstrapKey, guardKeys, ipamKeys, ledgerKeys, objectKeys, secretDataKeys, tokenKeys, usageKeys } from './keyspace.js';

const cluster = { kind: 'node', plural: 'nodes', scope: 'cluster' as const };
const project = { kind: 'instance', plural: 'instances', scope: 'project' as const };

describe('the keyspace', () => {
  it('lays objects out as /registry/<plural>/[<project>/]<name>', () => {
    expect(objectKeys.key(cluster, 'n1')).toBe('/registry/nodes/n1');
    expect(objectKeys.key(project, 'web', 'alpha')).toBe('/registry/instances/alpha/web');
    expect(objectKeys.prefix(project, 'alpha')).toBe('/registry/instances/alpha/');
    expect(objectKeys.prefix(project)).toBe('/registry/instances/');
    expect(objectKeys.prefix(cluster, 'alpha')).toBe('/registry/nodes/');
    expect(() => objectKeys.key(project, 'web')).toThrow(/instance needs a project/);
  });

  it('reads back what it builds', () => {
    expect(secretDataKeys.parse(secretDataKeys.key('alpha', 'db'))).toEqual({ project: 'alpha', name: 'db' });
    expect(ledgerKeys.nodeOf(ledgerKeys.key('n-7'))).toBe('n-7');
    expect(usageKeys.nodeOf(usageKeys.key('n-7'))).toBe('n-7');
    expect(ipamKeys.blockOf(ipamKeys.block('10.240.3.0'))).toBe('10.240.3.0');
    expect(ipamKeys.last(ipamKeys.address('alpha', 'default', '10.240.3.9'))).toBe('10.240.3.9');
    expect(ipamKeys.address('alpha', 'default', '10.240.3.9').startsWith(ipamKeys.addresses('alpha', 'default'))).toBe(true);
  });

  it('keeps each family under its own prefix: a range of one never returns another\'s records', () => {
    const families: string[] = [objectKeys.all, tokenKeys.hashes, tokenKeys.names, secretDataKeys.prefix, guardKeys.clusterAdmins, bootstrapKey, ipamKeys.all, ledgerKeys.prefix, auditKeys.prefix, usageKeys.prefix];
    for (const a of families) for (const b of families) if (a !== b) expect(b.startsWith(a), `${b} under ${a}`).toBe(false);
    const ipam = [ipamKeys.networks, ipamKeys.blocks, ipamKeys.addresses('p', 'n'), ipamKeys.owners('p', 'n'), ipamKeys.vni(7)];
    for (const k of ipam) expect(k.startsWith(ipamKeys.all)).toBe(true);
  });
});
