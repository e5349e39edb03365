/**
 * etcd for a vitest suite (apart from etcd.ts, which benchmarks load outside vitest).
 */
import { afterAll, beforeAll } from 'vitest';
import { startEtcd, type EtcdCluster, type EtcdTls } from './etcd.js';

/**
 * etcd for the tests of the enclosing describe (or file): started in beforeAll, stopped in
 * afterAll. `spec()` is a store URL with a fresh key prefix (`<label>-<n>`), so each store opened
 * with it starts empty. `tls` is called in beforeAll (after hooks registered before this call).
 */
export function useEtcd(label: string, opts: { members: 1 | 3; tls?: () => EtcdTls } = { members: 1 }): { readonly cluster: EtcdCluster; spec(): string } {
  let cluster: EtcdCluster | undefined;
  let n = 0;
  beforeAll(async () => {
    cluster = await startEtcd({ members: opts.members, tls: opts.tls?.() });
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  const started = () => {
    if (!cluster) throw new Error('etcd is not started yet: use it inside tests and hooks');
    return cluster;
  };
  return {
    get cluster() {
      return started();
    },
    spec: () => `${started().endpoints}/${label}-${n++}`,
  };
}

