import { describe, expect, it } from 'vitest';
import { hostVm, overlayVm } from './network-vm.js';

describe('a VM\'s networking in the vm driver\'s terms', () => {
  it('on the overlay: its tap, and the address, gateway, MTU and DNS its guest configures (a container gets them through its namespace)', () => {
    const a = { id: 'u1', tap: { name: 'stt0123456789ab', mac: '02:aa:bb:cc:dd:ee' }, ip: '10.240.1.20', prefixlen: 24, gateway: '10.240.1.1', mtu: 1450, hostLink: 'stt0123456789ab', dns: { nameserver: '10.240.1.1', search: ['team-a.stratus'] } };
    expect(overlayVm(a)).toEqual({
      tap: { name: 'stt0123456789ab', mac: '02:aa:bb:cc:dd:ee' },
      guestNetwork: { address: '10.240.1.20/24', gateway: '10.240.1.1', dns: ['10.240.1.1'], searchDomains: ['team-a.stratus'], mtu: 1450 },
    });
  });

  it('in host networking: each declared port forwarded from the host port the node gave it, on every host address', () => {
    const status = { hostNetwork: { ports: [{ port: 80, protocol: 'tcp' as const, hostPort: 20001 }, { port: 53, protocol: 'udp' as const, hostPort: 20002 }] } };
    expect(hostVm(status)).toEqual({ userNet: { forwards: [{ protocol: 'tcp', hostIp: '', hostPort: 20001, guestPort: 80 }, { protocol: 'udp', hostIp: '', hostPort: 20002, guestPort: 53 }] } });
    expect(hostVm({})).toEqual({ userNet: { forwards: [] } });
  });
});
