/**
 * Files a network namespace brings along: `ip netns` keeps per-namespace overrides of /etc files
 * in /etc/netns/<name>/ (the network's DNS server in resolv.conf, say). Workloads that join the
 * namespace should see those instead of the host's.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The name of a namespace created by `ip netns add` (its path is /run/netns/<name>), else undefined. */
export function namedNetns(path: string): string | undefined {
  return dirname(path) === '/run/netns' ? basename(path) : undefined;
}

/** The file that stands in for /etc/<file> inside `netnsPath`, when the namespace has one. */
export function netnsEtcFile(netnsPath: string | undefined, file: string): string | undefined {
  const name = netnsPath ? namedNetns(netnsPath) : undefined;
  if (!name) return undefined;
  const p = join('/etc/netns', name, file);
  return existsSync(p) ? p : undefined;
}
