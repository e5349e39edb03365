/**
 * Usage (model/usage.ts): agents report, people read.
 *
 *   PUT /v1/nodes/:node/usage                          that node's credential only → { accepted, dropped }
 *   GET /v1/projects/:project/instances/:name/usage    project viewers: latest + history (?since=10m)
 *   GET /v1/usage/instances                            ?project=&selector=: the instances the caller may read
 *   GET /v1/usage/nodes                                nodes the caller may list: allocation, capacity, used
 *
 * A report costs one store write (the node's record, overwritten; no audit record: routine like
 * heartbeats, unless refused). Entries for instances not bound to the reporting node (as the node
 * scope knows it now) are dropped and named in the answer: a node cannot invent usage for another
 * node's instances; a report racing a rebinding loses only that entry. The `service` of an entry
 * is the instance's own label, whatever the node said.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server.js';
import { DnsLabel, Strict } from '../../model/schema.js';
import { notFound, StratusError, ValidationError } from '../../model/errors.js';
import { parseDuration } from '../../model/format.js';
import { matches } from '../../model/labels.js';
import { parseSelectorParam } from './resources.js';
import { instanceKind, nodeKind, projectKind } from '../../model/kinds/index.js';
import { SERVICE_LABEL } from '../../model/kinds/service.js';
import { nodeMemoryOf, type Instance } from '../../model/kinds/instance.js';
import type { Node } from '../../model/kinds/node.js';
import { holdsResources } from '../../model/lifecycle.js';
import { NodeUsageReportSchema, type InstanceUsage, type InstanceUsageRow, type InstanceUsageView, type LatestInstanceUsage, type NodeUsageReport, type NodeUsageView } from '../../model/usage.js';
import { canSee, roleIn, type Principal } from '../../policy/auth.js';
import { byNode, Informers } from '../../runtime/informers.js';
import type { Informer } from '../../runtime/informer.js';
import { UsageHistory, writeUsageReport } from '../../runtime/usage.js';

const NodeParams = Type.Object({ node: DnsLabel() }, Strict);
const InstanceParams = Type.Object({ project: DnsLabel(), name: DnsLabel() }, Strict);
const Since = Type.Optional(Type.String({ pattern: '^\\d+(ms|s|m|h)$', description: 'History of the last duration (e.g. 10m, 1h); default all kept (about 1 h).', errorMessage: 'is not a duration (use e.g. 30s, 10m, 1h)' }));
const InstanceQuery = Type.Object({ since: Since }, Strict);
const ListQuery = Type.Object(
  {
    project: Type.Optional(DnsLabel({ description: 'Only this project (default: every project the caller can read).' })),
    selector: Type.Optional(Type.String({ maxLength: 2048, description: 'Label selector, e.g. app=web,tier!=db.' })),
  },
  Strict,
);

const UsagePoint = Type.Object({ at: Type.String(), cpu: Type.Number({ description: 'Millicores.' }), memory: Type.Number({ description: 'MiB, working set.' }) }, { additionalProperties: true, description: 'An InstanceUsage (model/usage.ts) at a time.' });
const Amounts = Type.Object({ cpu: Type.Number(), memory: Type.Number(), gpus: Type.Number() });
const InstanceRowSchema = Type.Object({ project: Type.String(), name: Type.String(), uid: Type.String(), node: Type.String(), phase: Type.String(), requests: Type.Object({ cpu: Type.Number(), memory: Type.Number() }), usage: Type.Optional(UsagePoint) });
const NodeRowSchema = Type.Object({
  node: Type.String(), ready: Type.Boolean(), capacity: Amounts, allocated: Amounts, instances: Type.Integer(),
  used: Type.Optional(Type.Object({ at: Type.String(), cpu: Type.Number(), memory: Type.Number(), gpuMemory: Type.Optional(Type.Number()) })),
});

export async function usageRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  const tags = ['Usage'];
  const informers = deps.informers ?? new Informers(deps.repo);
  const history = deps.usage ?? new UsageHistory(informers, { clock: deps.clock });
  const instances: Informer<Instance> = informers.of<Instance>(instanceKind);
  instances.addIndex(byNode);
  const sub = await instances.use();
  if (!deps.usage) await history.start();
  app.addHook('onClose', async () => {
    sub.close();
    if (!deps.usage) await history.stop();
  });

  app.put('/v1/nodes/:node/usage', {
    schema: { tags, summary: 'A node agent reports its instances\' usage (its own credential only)', params: NodeParams, body: NodeUsageReportSchema, response: { 200: Type.Object({ accepted: Type.Integer(), dropped: Type.Array(Type.Object({ uid: Type.String(), reason: Type.String() })) }) } },
    config: { permission: 'authenticated' },
  }, async (req) => {
    const { node } = req.params as Static<typeof NodeParams>;
    const report = req.body as NodeUsageReport;
    req.target = { kind: 'node', name: node, action: 'report-usage' };
    if (req.principal!.node !== node) throw new StratusError('STRATUS_ERR_FORBIDDEN', `only node ${node}'s own credential may report its usage; ${req.principal!.id} may not`);
    if (report.node !== node) throw new ValidationError([{ path: 'node', message: `${JSON.stringify(report.node)} does not match the node in the URL (${JSON.stringify(node)})`, value: report.node }]);
    const { kept, dropped } = ownInstances(deps, instances, node, report.instances);
    await writeUsageReport(deps.repo, { ...report, instances: kept });
    req.audited = true;
    return { accepted: kept.length, dropped };
  });

  app.get('/v1/projects/:project/instances/:name/usage', {
    schema: { tags, summary: 'An instance\'s latest usage and its recent history', params: InstanceParams, querystring: InstanceQuery, response: { 200: Type.Object({ project: Type.String(), name: Type.String(), uid: Type.Optional(Type.String()), latest: Type.Optional(UsagePoint), history: Type.Array(UsagePoint) }) } },
    config: { permission: { role: 'viewer' } },
  }, async (req): Promise<InstanceUsageView> => {
    const { project, name } = req.params as Static<typeof InstanceParams>;
    const { since } = req.query as Static<typeof InstanceQuery>;
    const inst = instances.get(`${project}/${name}`) ?? (await deps.repo.get<Instance>(instanceKind, name, project));
    const uid = inst.metadata.uid;
    const latest = history.latest(uid);
    // the points without what the answer says once (uid, project, name, service): up to 720 of them
    const points = history.history(uid, since === undefined ? undefined : parseDuration(since)).map(({ uid: _u, project: _p, name: _n, service: _s, ...point }) => point);
    return { project, name, uid, ...(latest ? { latest } : {}), history: points };
  });

  app.get('/v1/usage/instances', {
    schema: { tags, summary: 'The latest usage of the instances the caller may read (running ones)', querystring: ListQuery, response: { 200: Type.Object({ items: Type.Array(InstanceRowSchema) }) } },
    config: { permission: 'authenticated' },
  }, async (req) => {
    const q = req.query as Static<typeof ListQuery>;
    const principal = req.principal!;
    const selector = parseSelectorParam(q.selector);
    if (q.project !== undefined) await projectVisible(deps, principal, q.project);
    const items: InstanceUsageRow[] = [];
    const current = new Map([...history.instances()].map((u) => [u.uid, u]));
    for (const i of instances.items.values()) {
      if (!holdsResources(i) || (q.project !== undefined && i.metadata.project !== q.project)) continue;
      if (!readsInstances(principal, i.metadata.project!) || (selector && !matches(selector, i.metadata.labels))) continue;
      items.push(instanceRow(i, current.get(i.metadata.uid)));
    }
    items.sort((a, b) => a.project.localeCompare(b.project) || a.name.localeCompare(b.name));
    return { items };
  });

  app.get('/v1/usage/nodes', {
    schema: { tags, summary: 'Nodes: what is allocated on them against their capacity, and what their agents last reported used', response: { 200: Type.Object({ items: Type.Array(NodeRowSchema) }) } },
    config: { permission: { kind: nodeKind, verb: 'list' } },
  }, async (req) => {
    const nodes = await deps.repo.list<Node>(nodeKind, { filter: (n) => canSee(req.principal!, nodeKind, n) });
    const used = new Map([...history.nodes()].map((n) => [n.node, n]));
    const gpuUsed = new Map<string, number>();
    for (const u of history.instances()) if (u.gpuMemory) gpuUsed.set(u.node, (gpuUsed.get(u.node) ?? 0) + u.gpuMemory);
    const items: NodeUsageView[] = nodes.items.map((n) => nodeRow(n, [...(instances.indexed(byNode, n.metadata.name)?.values() ?? [])].filter(holdsResources), used.get(n.metadata.name), gpuUsed.get(n.metadata.name)));
    return { items };
  });
}

/** The report's entries for instances bound to `node` now (uid, project and name agreeing), with their own service label; the others, and why. */
function ownInstances(deps: ApiDeps, instances: Informer<Instance>, node: string, entries: InstanceUsage[]) {
  const bound = new Map((deps.nodeScope?.boundInstancesOf(node) ?? []).map((b) => [b.uid, b]));
  const kept: InstanceUsage[] = [];
  const dropped: { uid: string; reason: string }[] = [];
  for (const u of entries) {
    const b = bound.get(u.uid);
    if (!b || b.project !== u.project || b.name !== u.name) {
      dropped.push({ uid: u.uid, reason: `instance ${u.project}/${u.name} (uid ${u.uid}) is not bound to node ${node}` });
      continue;
    }
    const { service: _claimed, ...rest } = u;
    const service = instances.get(`${u.project}/${u.name}`)?.metadata.labels?.[SERVICE_LABEL];
    kept.push(service ? { ...rest, service } : rest);
  }
  return { kept, dropped };
}

/** An instance's row, with its current usage (none when its node has not reported it lately). */
function instanceRow(i: Instance, latest: LatestInstanceUsage | undefined): InstanceUsageRow {
  const { node: _node, ...usage } = latest ?? { node: '' };
  return {
    project: i.metadata.project!, name: i.metadata.name, uid: i.metadata.uid, node: i.status!.node!, phase: i.status!.phase,
    requests: { cpu: i.spec.resources.cpu, memory: i.spec.resources.memory },
    ...(latest ? { usage: usage as InstanceUsage & { at: string } } : {}),
  };
}

function nodeRow(n: Node, bound: Instance[], used: { at: string; cpu: number; memory: number } | undefined, gpuMemory: number | undefined): NodeUsageView {
  const cap = n.status?.allocatable ?? n.status?.capacity;
  const allocated = { cpu: 0, memory: 0, gpus: 0 };
  for (const i of bound) {
    allocated.cpu += i.spec.resources.cpu;
    allocated.memory += nodeMemoryOf(i.spec);
    allocated.gpus += (i.status?.allocation?.gpus ?? []).reduce((s, g) => s + g.milli, 0) / 1000;
  }
  return {
    node: n.metadata.name,
    ready: n.status?.phase === 'Ready',
    capacity: { cpu: cap?.cpu ?? 0, memory: cap?.memory ?? 0, gpus: cap?.gpus.length ?? 0 },
    allocated,
    instances: bound.length,
    ...(used ? { used: { at: used.at, cpu: used.cpu, memory: used.memory, ...(gpuMemory ? { gpuMemory } : {}) } } : {}),
  };
}

/** Whether `principal` reads instances of `project` (a viewer there, or a cluster admin). */
function readsInstances(principal: Principal, project: string): boolean {
  return !principal.node && !principal.join && roleIn(principal, project) !== undefined;
}

/** A project the caller has no role in is answered as one that does not exist. */
async function projectVisible(deps: ApiDeps, principal: Principal, project: string): Promise<void> {
  if (!readsInstances(principal, project)) throw notFound('project', project);
  await deps.repo.get(projectKind, project);
}
