/**
 * The node authorizer (Kubernetes' is the model): what a node's credential may read and write.
 *
 * A node reads
 *   - the instances bound to it, whole;
 *   - the other instances of the projects it hosts (an instance of the project is bound to it),
 *     redacted to what its networking needs: name, labels, network, ports, http/tcp health check,
 *     and status phase, node, address and conditions (peers, DNS names, security-group members,
 *     service backends). Never their env, command, annotations or anything else;
 *   - the networks and security groups of the projects it hosts, and their services (redacted:
 *     ports, balancing and the template's network, ports and probe; no template env or history);
 *   - the images its bound instances run (their content too), and its own node object.
 * A node writes the status of its own node and of the instances bound to it (keeping them bound to
 * it), and nothing else. Secrets (their kind is defined elsewhere) are readable only when an
 * instance bound to the node references them: `NodeScope.boundInstancesOf` lists those.
 *
 * Route-level checks (`nodeDenyReason`) run before the handler; `nodeView` decides per object.
 */
import type { Kind, StoredObject } from '../model/kind.js';
import type { Instance, InstanceSpec } from '../model/kinds/instance.js';
import type { Service } from '../model/kinds/service.js';
import type { HealthCheck } from '../model/health.js';
import type { NodeScope } from './node-scope.js';
import type { Verb } from './auth.js';

/** Marks an object a node receives redacted (its spec holds only what networking needs). */
export const REDACTED_ANNOTATION = 'stratus.io/redacted';

/** Kinds a node may read at all; which objects, `nodeView` decides. */
const NODE_READABLE: ReadonlySet<string> = new Set(['node', 'image', 'instance', 'network', 'security-group', 'service', 'secret']);
const READ_VERBS: ReadonlySet<Verb> = new Set(['get', 'list', 'watch']);

/** Why node `node` may not do `verb` on `kind` (object `name`), or undefined when it may, subject to `nodeView`. */
export function nodeDenyReason(node: string, kind: Kind, verb: Verb, name?: string): string | undefined {
  if (kind.kind === 'node' && verb === 'status' && name === node) return undefined;
  if (kind.kind === 'instance' && verb === 'status') return undefined; // bound to it: checked on the object
  if (READ_VERBS.has(verb) && NODE_READABLE.has(kind.kind)) return undefined;
  return `node:${node} may not ${verb} ${kind.plural}${name ? ` (${name})` : ''}`;
}

/**
 * The object as node `node` may read it: whole, redacted, or undefined (not at all).
 * Secrets answer undefined here: their routes decide with `NodeScope.boundInstancesOf`.
 */
export function nodeView(scope: NodeScope | undefined, node: string, kind: Kind, obj: StoredObject): StoredObject | undefined {
  if (kind.kind === 'node') return obj.metadata.name === node ? obj : undefined;
  if (kind.kind === 'instance' && (obj as Instance).status?.node === node) return obj;
  const project = obj.metadata.project;
  if (!scope || project === undefined) return undefined;
  switch (kind.kind) {
    case 'image': return scope.usesImage(node, project, obj.metadata.name) ? obj : undefined;
    case 'instance': return scope.hostsProject(node, project) ? redactInstance(obj as Instance) : undefined;
    case 'service': return scope.hostsProject(node, project) ? redactService(obj as Service) : undefined;
    case 'network':
    case 'security-group': return scope.hostsProject(node, project) ? obj : undefined;
    default: return undefined;
  }
}

/** Where a watch stream learns that its caller's view widens (api/routes/watch-widen.ts replays what became readable). */
export interface WidenSource {
  /** Whether the view widened after `from` (in `project`, or any): a stream from there would miss objects. */
  missedSince(from: number, project?: string): boolean;
  /** Calls `onWiden(project)` (synchronously, as the store delivers the change) when the view grows; returns the unsubscribe. */
  subscribe(onWiden: (project: string) => void): () => void;
}

/** Kinds a node reads only in the projects it hosts: its watches of them widen with its projects. */
const HOSTED_KINDS: ReadonlySet<string> = new Set(['instance', 'service', 'network', 'security-group']);

/** How node `node`'s watches of `kind` learn that they may read another project. */
export function nodeWidenSource(scope: NodeScope, node: string, kind: Kind): WidenSource | undefined {
  if (!HOSTED_KINDS.has(kind.kind)) return undefined;
  return {
    missedSince: (from, project) => scope.hostedSince(node, from, project),
    subscribe: (onWiden) => scope.onGrow(node, onWiden),
  };
}

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
