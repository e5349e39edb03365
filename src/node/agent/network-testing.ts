/** Test doubles for NetworkSync's tests: the API as the agent sees it, NodeNetworking, objects. */
import { ApiError, type ApiClient, type WatchMessage } from '../../client/index.js';
import { systemClock } from '../../model/runtime.js';
import { RecordingRunner } from '../network/exec.js';
import type { Instance } from '../../model/kinds/instance.js';
import type { Network } from '../../model/kinds/network.js';
import type { NetworkCapabilities } from '../network/capabilities.js';
import { NetworkSync, type NetworkSyncOptions, type NodeNetworkingApi } from './network.js';

/** The API as the agent sees it: objects by path, lists, and watches the test can push to. */
export class FakeApi {
  readonly server = 'http://198.18.0.254:7070';
  readonly objects = new Map<string, Record<string, unknown>>();
  private readonly watchers = new Map<string, (m: WatchMessage) => void>();

  put(collection: string, obj: { metadata: { name: string; project?: string }; status?: unknown }): void {
    const path = `/v1/projects/${obj.metadata.project}/${collection}/${obj.metadata.name}`;
    this.objects.set(path, obj as unknown as Record<string, unknown>);
    this.watchers.get(`/v1/${collection}`)?.({ type: 'put', object: obj as unknown as Record<string, unknown> });
  }

  remove(collection: string, obj: { metadata: { name: string; project?: string } }): void {
    this.objects.delete(`/v1/projects/${obj.metadata.project}/${collection}/${obj.metadata.name}`);
    this.watchers.get(`/v1/${collection}`)?.({ type: 'delete', object: obj as unknown as Record<string, unknown> });
  }

  async get<T>(path: string): Promise<T> {
    const o = this.objects.get(path);
    if (!o) throw new ApiError(404, 'STRATUS_ERR_NOT_FOUND', `${path} not found`);
    return structuredClone(o) as T;
  }

  async listAll<T>(path: string): Promise<{ items: T[]; revision: number }> {
    const collection = path.split('/')[2]!;
    return { items: [...this.objects].filter(([p]) => p.split('/')[4] === collection).map(([, o]) => structuredClone(o) as T), revision: 1 };
  }

  watch(path: string, _rev: number, _q: unknown, onMessage: (m: WatchMessage) => void, signal: AbortSignal): Promise<void> {
    this.watchers.set(path, onMessage);
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve()));
  }
}

/** Records what the agent asks of the dataplane. */
export class FakeNodeNetworking implements NodeNetworkingApi {
  readonly calls: string[] = [];
  ensured: Parameters<NodeNetworkingApi['ensureNetwork']>[0][] = [];
  ingress = new Map<string, unknown>();
  published: Parameters<NodeNetworkingApi['setPublished']>[0] = [];
  records = new Map<number, Record<string, unknown>>();
  services: Parameters<NodeNetworkingApi['setServices']>[0] = [];
  async ensureNetwork(n: Parameters<NodeNetworkingApi['ensureNetwork']>[0]) { this.calls.push(`ensure ${n.vni}`); this.ensured.push(n); }
  async removeNetwork(vni: number) { this.calls.push(`remove ${vni}`); }
  async attachInstance(i: Parameters<NodeNetworkingApi['attachInstance']>[0]) {
    this.calls.push(`attach ${i.name} ${i.ip}`);
    return { id: i.id, netns: `/run/netns/t-${i.id}`, netnsName: `t-${i.id}`, ip: i.ip, prefixlen: 24, gateway: '10.9.0.1', mtu: 1450, hostLink: 'stv', dns: { nameserver: '10.9.0.1', search: [] } };
  }
  async attachTap(i: Parameters<NonNullable<NodeNetworkingApi['attachTap']>>[0]) {
    this.calls.push(`attach-tap ${i.name} ${i.ip} ${JSON.stringify(i.tap)}`);
    return { id: i.id, tap: { name: `stt-${i.id}`, mac: '02:00:00:00:00:01' }, ip: i.ip, prefixlen: 24, gateway: '10.9.0.1', mtu: 1450, hostLink: `stt-${i.id}`, dns: { nameserver: '10.9.0.1', search: ['p.stratus'] } };
  }
  async detachInstance(id: string) { this.calls.push(`detach ${id}`); }
  async cleanupLeftovers() { this.calls.push('cleanup'); return { netns: [], links: [], tables: [] }; }
  async setIngress(p: ReadonlyMap<string, unknown>) { this.ingress = new Map(p); }
  async setPublished(p: Parameters<NodeNetworkingApi['setPublished']>[0]) { this.published = [...p]; }
  async setServices(d: Parameters<NodeNetworkingApi['setServices']>[0]) { this.services = structuredClone([...d]); }
  setRecords(vni: number, r: Record<string, unknown>) { this.records.set(vni, r); }
  async close() { this.calls.push('close'); }
}

export const OVERLAY: NetworkCapabilities = { mode: 'overlay', vxlan: true, summary: 'overlay: test', details: [] };
export const meta = (name: string, project = 'p', labels?: Record<string, string>) => ({ name, project, uid: `uid-${project}-${name}`, revision: 1, generation: 1, createdAt: '', ...(labels ? { labels } : {}) });

export function instance(name: string, status: Partial<NonNullable<Instance['status']>>, extra: Partial<Instance['spec']> = {}, labels?: Record<string, string>, project = 'p'): Instance {
  return { kind: 'instance', metadata: meta(name, project, labels), spec: { driver: 'process', command: ['x'], resources: { cpu: 1, memory: 1, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 1, ...extra }, status: { phase: 'Scheduled', ...status } };
}

export function network(nodes: { node: string; address: string; underlay?: string }[], project = 'p'): Network {
  return { kind: 'network', metadata: meta('default', project), spec: {}, status: { phase: 'Ready', cidr: '10.9.0.0/24', gateway: '10.9.0.1', vni: 77, nodes } };
}


/** A NetworkSync of node `node` on `api`, in overlay mode on `dp` unless `opts` says otherwise; settles after 1 ms. */
export function syncFor(api: FakeApi, dp: FakeNodeNetworking, lockDir: string, opts: Partial<NetworkSyncOptions> = {}, node = 'n1'): NetworkSync {
  const runner = new RecordingRunner((argv) => (argv.includes('addr') ? { stdout: JSON.stringify([{ ifname: 'eth0', addr_info: [{ family: 'inet', local: '198.18.0.1' }] }]) } : undefined));
  return new NetworkSync({ api: api as unknown as ApiClient, node, dataDir: '/nonexistent', clock: systemClock, log: () => undefined }, {
    probe: async () => OVERLAY, nodeNetworking: () => dp, lockDir, runner, underlayAddress: '198.18.0.1', settleMs: 1, ...opts,
  });
}
