/**
 * The node dataplane's public surface: what the agent uses (NodeNetworking, PolicyResolver,
 * capabilities). Address management is the control plane's (controllers/network/ipam.ts).
 * See README.md "Wiring".
 */
export { PolicyResolver, type Endpoint, type GroupInfo, type IngressPolicy, type IngressRule } from './policy.js';
export { NodeNetworking, type NodeNetworkingOptions, type ServiceDefinition, type ServiceBackend, type ServiceHealth, type BackendProbe } from './node.js';
export { Dataplane, resolvConf, type DataplaneOptions, type NetworkConfig, type NetworkPeer, type InstanceConfig, type AttachedInstance, type AttachedTap, type TapInstanceConfig, type ServiceConfig, type LbAlgorithm, type Owned } from './dataplane.js';
export type { PublishedPort, FwServicePort, L4 } from './firewall.js';
export { probeNetworking, HostPorts, type NetworkCapabilities } from './capabilities.js';
export { DnsServer, hostsFile, type DnsOptions, type Records } from './dns.js';
export { HealthChecker, runProbe, type Probe, type HealthTarget, type HealthOptions } from './health.js';
export { TcpBalancer, type Algorithm, type ProxyBackend, type BalancerOptions } from './balancer.js';
export { hostRunner, CommandError, type Runner } from './exec.js';
