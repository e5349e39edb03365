/**
 * The agent-like process of one simulated host (see testing.ts): runs inside the host's network
 * namespace and calls NodeNetworking for each JSON line `{id, method, args}` on stdin, answering
 * `{id, result}` or `{id, error}` on stdout. Exits when stdin closes. Test fixture only.
 */
import { createInterface } from 'node:readline';
import { NodeNetworking, type NodeNetworkingOptions } from './node.js';
import { probeNetworking } from './capabilities.js';
import type { IngressPolicy } from './policy.js';

const options = JSON.parse(process.argv[2] ?? '{}') as NodeNetworkingOptions;
const net = new NodeNetworking(options);

const methods: Record<string, (...args: never[]) => unknown> = {
  ping: () => 'pong',
  ensureNetwork: (n: Parameters<NodeNetworking['ensureNetwork']>[0]) => net.ensureNetwork(n),
  removeNetwork: (vni: number) => net.removeNetwork(vni),
  attachInstance: (i: Parameters<NodeNetworking['attachInstance']>[0]) => net.attachInstance(i),
  attachTap: (i: Parameters<NodeNetworking['attachTap']>[0]) => net.attachTap(i),
  detachInstance: (id: string) => net.detachInstance(id),
  setIngress: (entries: [string, IngressPolicy | null][]) => net.setIngress(new Map(entries.map(([k, v]) => [k, v ?? undefined]))),
  setPublished: (ports: Parameters<NodeNetworking['setPublished']>[0]) => net.setPublished(ports),
  setServices: (defs: Parameters<NodeNetworking['setServices']>[0]) => net.setServices(defs),
  setRecords: (vni: number, records: Record<string, string>, zones: string[]) => net.setRecords(vni, records, zones),
  ready: (key: string) => net.ready(key),
  drained: (key: string, ip: string, timeoutMs: number) => net.drained(key, ip, timeoutMs),
  cleanupLeftovers: () => net.dataplane.cleanupLeftovers(),
  owned: () => net.dataplane.owned(),
  ruleset: () => net.dataplane.ruleset(),
  probe: () => probeNetworking(),
  teardown: async () => {
    await net.close();
    return net.dataplane.teardown();
  },
};

createInterface({ input: process.stdin }).on('line', (line) => {
  const { id, method, args } = JSON.parse(line) as { id: number; method: string; args: never[] };
  const fn = methods[method];
  Promise.resolve()
    .then(() => (fn ? fn(...args) : Promise.reject(new Error(`no method ${method}`))))
    .then(
      (result) => process.stdout.write(`${JSON.stringify({ id, result: result ?? null })}\n`),
      (e: Error) => process.stdout.write(`${JSON.stringify({ id, error: e.message })}\n`),
    );
}).on('close', () => {
  void net.close().finally(() => process.exit(0));
});
