/**
 * What a VM gets from the node's networking, in the vm driver's terms (drivers/driver.ts):
 *
 *   overlay   Task.tap (a tap on the project bridge, network/instance-links.ts) and
 *             Task.guestNetwork: the instance's address, gateway, MTU, DNS server and search
 *             domains, which the guest applies from its NoCloud seed (a container gets the same
 *             through its namespace and resolv.conf)
 *   host      Task.userNet: QEMU's user-mode network, each declared port forwarded from the host
 *             port HostNetworking gave it (status.hostNetwork, PORT_<port> for a container)
 */
import type { Instance, InstanceStatus } from '../../model/kinds/instance.js';
import type { GuestNetwork, TaskTap, UserNet } from '../drivers/index.js';
import type { AttachedTap } from '../network/dataplane.js';

/** What prepare() adds for a VM. */
export interface VmNetworking {
  tap?: TaskTap;
  guestNetwork?: GuestNetwork;
  userNet?: UserNet;
}

export function isVm(inst: Instance): boolean {
  return inst.spec.driver === 'vm';
}

/** A VM on the overlay: its tap and the guest's static configuration. */
export function overlayVm(a: AttachedTap): Required<Pick<VmNetworking, 'tap' | 'guestNetwork'>> {
  return {
    tap: a.tap,
    guestNetwork: { address: `${a.ip}/${a.prefixlen}`, gateway: a.gateway, dns: [a.dns.nameserver], searchDomains: a.dns.search, mtu: a.mtu },
  };
}

/** A VM in host networking: its declared ports forwarded from their host ports, on every host address. */
export function hostVm(status: Pick<InstanceStatus, 'hostNetwork'>): Pick<VmNetworking, 'userNet'> {
  const ports = status.hostNetwork?.ports ?? [];
  return { userNet: { forwards: ports.map((p) => ({ protocol: p.protocol, hostIp: '', hostPort: p.hostPort, guestPort: p.port })) } };
}
