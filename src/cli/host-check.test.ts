import { describe, it, expect } from 'vitest';
import { missingHostPackages } from './host-check.js';
import type { Node } from '../model/kinds/node.js';

const node = (drivers: NonNullable<Node['status']>['drivers'], networking: string): Pick<Node, 'status'> => ({
  status: { phase: 'Ready', drivers, conditions: [{ type: 'Networking', status: 'True', reason: 'host', message: networking }] },
});

describe('missingHostPackages', () => {
  it('reads what the agent found missing from its drivers and networking, without the advice each note repeats', () => {
    const bare = node([
      { name: 'process', healthy: true, message: 'sandboxed processes need runc: run scripts/install-deps.sh (Debian package "runc"); cgroup v2' },
      { name: 'container', healthy: false, message: 'runc is not installed; run scripts/install-deps.sh (Debian package "runc")' },
    ], 'host networking: `nft` (nftables) is not installed');
    expect(missingHostPackages(bare)).toEqual([
      'process driver: sandboxed processes need runc',
      'container driver (unavailable): runc is not installed',
      'per-project networks: host networking: `nft` (nftables) is not installed',
    ]);
  });

  it('names tini when sandboxed processes run without it', () => {
    expect(missingHostPackages(node([{ name: 'process', healthy: true, message: 'sandboxed: project uid, seccomp; no tini: the workload is pid 1 and must handle SIGTERM itself' }], 'overlay networks'))).toEqual([
      'process driver: no tini: the workload is pid 1 and must handle SIGTERM itself',
    ]);
  });

  it('says nothing on a machine that has everything', () => {
    expect(missingHostPackages(node([{ name: 'process', healthy: true, message: 'sandboxed: project uid, seccomp' }, { name: 'container', healthy: true }], 'per-project networks (VXLAN, nftables)'))).toEqual([]);
  });
});
