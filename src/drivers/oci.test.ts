import { describe, expect, it } from 'vitest';
import { ociConfig } from './oci.js';

const input = {
  args: ['httpd', '-f'],
  env: { PATH: '/bin', GREETING: 'a=b' },
  cwd: '/www',
  hostname: 'web',
  resources: { cpu: 250, memory: 64, pids: 100 },
  cgroupsPath: '/stratus/p.web.1',
};

describe('ociConfig', () => {
  it('maps the spec onto process, limits (no swap) and cgroup path', () => {
    const c = ociConfig(input) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(c.process).toMatchObject({ args: ['httpd', '-f'], env: ['PATH=/bin', 'GREETING=a=b'], cwd: '/www', terminal: false, noNewPrivileges: true });
    expect(c.linux.resources).toMatchObject({
      memory: { limit: 64 * 1024 * 1024, swap: 64 * 1024 * 1024 },
      cpu: { quota: 25_000, period: 100_000, shares: 256 },
      pids: { limit: 100 },
    });
    expect(c.linux.cgroupsPath).toBe('/stratus/p.web.1');
    expect(c.hostname).toBe('web');
    expect(c.mounts.map((m: { destination: string }) => m.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup']);
  });

  it('uses the host network unless a namespace is given', () => {
    const types = (c: any) => c.linux.namespaces.map((n: { type: string }) => n.type); // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(types(ociConfig(input))).toEqual(['pid', 'ipc', 'uts', 'mount']);
    const withNs = ociConfig({ ...input, netns: '/run/netns/p1' }) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(withNs.linux.namespaces).toContainEqual({ type: 'network', path: '/run/netns/p1' });
  });

  it('adds read-only bind mounts', () => {
    const c = ociConfig({ ...input, mounts: [{ destination: '/etc/resolv.conf', source: '/etc/resolv.conf' }] }) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(c.mounts.at(-1)).toEqual({ type: 'bind', destination: '/etc/resolv.conf', source: '/etc/resolv.conf', options: ['rbind', 'ro'] });
  });
});
