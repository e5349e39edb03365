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
    expect(types(ociConfig(input))).toEqual(['pid', 'ipc', 'uts', 'mount', 'cgroup']);
    const withNs = ociConfig({ ...input, netns: '/run/netns/p1' }) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(withNs.linux.namespaces).toContainEqual({ type: 'network', path: '/run/netns/p1' });
  });

  it('adds read-only bind mounts', () => {
    const c = ociConfig({ ...input, mounts: [{ destination: '/etc/resolv.conf', source: '/etc/resolv.conf' }] }) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(c.mounts.at(-1)).toEqual({ type: 'bind', destination: '/etc/resolv.conf', source: '/etc/resolv.conf', options: ['rbind', 'ro'] });
  });
});

describe('ociConfig isolation options', () => {
  it('applies the default seccomp profile, no_new_privs, and Docker\'s capabilities unless told otherwise', () => {
    const c = ociConfig(input) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(c.linux.seccomp.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(c.linux.seccomp.syscalls[0].names).toContain('chroot'); // Docker's set has CAP_SYS_CHROOT
    expect(c.process.capabilities.bounding).toContain('CAP_NET_BIND_SERVICE');
    const bare = ociConfig({ ...input, capabilities: [], user: { uid: 1114112, gid: 1114112 }, readonlyRoot: true }) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(bare.process.capabilities).toEqual({ bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] });
    expect(bare.process.user).toEqual({ uid: 1114112, gid: 1114112 });
    expect(bare.root.readonly).toBe(true);
    expect(bare.linux.seccomp.syscalls[0].names).not.toContain('chroot');
    expect((ociConfig({ ...input, seccomp: null }) as any).linux.seccomp).toBeUndefined(); // eslint-disable-line @typescript-eslint/no-explicit-any
  });

  it('maps a user namespace onto the range and binds the host /sys instead of mounting sysfs', () => {
    const c = ociConfig({ ...input, userns: { start: 1114112, size: 65536 }, netns: '/run/netns/p1' }) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(c.linux.uidMappings).toEqual([{ containerID: 0, hostID: 1114112, size: 65536 }]);
    expect(c.linux.gidMappings).toEqual(c.linux.uidMappings);
    expect(c.linux.namespaces.map((n: { type: string }) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount', 'cgroup', 'user', 'network']);
    const sys = c.mounts.filter((m: { destination: string }) => m.destination.startsWith('/sys'));
    expect(sys).toEqual([{ destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }]);
  });

  it('creates and allows only the devices it is given', () => {
    const dev = { path: '/dev/nvidia0', type: 'c' as const, major: 195, minor: 0, fileMode: 0o666, uid: 0, gid: 0 };
    const c = ociConfig({ ...input, devices: [dev] }) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(c.linux.devices).toEqual([dev]);
    expect(c.linux.resources.devices).toEqual([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 195, minor: 0, access: 'rwm' }]);
  });
});

describe('namespaceSysctls', () => {
  it('lets a workload with its own network namespace bind low ports and ping there, and sets nothing on the host network', async () => {
    const { namespaceSysctls } = await import('./oci.js');
    expect(namespaceSysctls('/run/netns/p1')).toEqual({ 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647' });
    expect(namespaceSysctls(undefined)).toBeUndefined();
    const c = ociConfig({ ...input, netns: '/run/netns/p1', sysctl: namespaceSysctls('/run/netns/p1') }) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(c.linux.sysctl['net.ipv4.ip_unprivileged_port_start']).toBe('0');
  });
});
