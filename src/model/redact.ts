/**
 * What a node may read of the instances and services of the projects it hosts that are not its
 * own (the node authorizer, policy/node-authorizer.ts): what its networking needs (peers, DNS
 * names, security-group members, service backends), never their env, command, annotations or
 * anything else. The instance and service kinds name these in their `access.node.hosted`. Pure.
 */
import type { StoredObject } from './kind.js';
import type { Instance, InstanceSpec } from './kinds/instance.js';
import type { Service } from './kinds/service.js';
import type { HealthCheck } from './health.js';

/** Marks an object a node receives redacted (its spec holds only what networking needs). */
export const REDACTED_ANNOTATION = 'stratus.io/redacted';

function redactedMeta(m: StoredObject['metadata']): StoredObject['metadata'] {
  const { annotations: _dropped, ...rest } = m;
  return { ...rest, annotations: { [REDACTED_ANNOTATION]: 'true' } };
}

/** What a peer's networking needs of an instance spec: its network, ports and http/tcp probe. */
function redactSpec(s: InstanceSpec): InstanceSpec {
  const health = probeOnly(s.health);
  return {
    driver: s.driver,
    ...(s.network !== undefined ? { network: s.network } : {}),
    ...(s.ports ? { ports: s.ports } : {}),
    ...(health ? { health } : {}),
  } as InstanceSpec;
}

/** The http or tcp part of a health check with its timing; a command check is not a peer's business. */
function probeOnly(h: HealthCheck | undefined): HealthCheck | undefined {
  if (!h || (!h.http && !h.tcp)) return undefined;
  return {
    ...(h.http ? { http: h.http } : {}),
    ...(h.tcp ? { tcp: h.tcp } : {}),
    ...(h.interval !== undefined ? { interval: h.interval } : {}),
    ...(h.timeout !== undefined ? { timeout: h.timeout } : {}),
  };
}

/** An instance as a peer node sees it: name, labels, network, ports, probe; phase, node, address, conditions. */
export function redactInstance(i: Instance): Instance {
  const s = i.status;
  return {
    kind: i.kind,
    metadata: redactedMeta(i.metadata),
    spec: redactSpec(i.spec),
    ...(s ? {
      status: {
        phase: s.phase,
        ...(s.node ? { node: s.node } : {}),
        ...(s.ip ? { ip: s.ip } : {}),
        ...(s.conditions ? { conditions: s.conditions } : {}),
      },
    } : {}),
  };
}

/** A service as a node sees it: ports, balancing, the template's network, ports and probe; no template env or history. */
export function redactService(svc: Service): Service {
  const { history: _history, ...status } = svc.status ?? {};
  const t = svc.spec.template;
  return {
    kind: svc.kind,
    metadata: redactedMeta(svc.metadata),
    spec: {
      replicas: svc.spec.replicas,
      ...(svc.spec.ports ? { ports: svc.spec.ports } : {}),
      ...(svc.spec.loadBalancer ? { loadBalancer: svc.spec.loadBalancer } : {}),
      template: { ...(t.metadata?.labels ? { metadata: { labels: t.metadata.labels } } : {}), spec: redactSpec(t.spec) },
    },
    ...(svc.status ? { status } : {}),
  };
}
