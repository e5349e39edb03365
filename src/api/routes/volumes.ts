/**
 * Volume operations that need the volume's node (its agent keeps the data):
 *
 *   POST /v1/projects/P/volumes/V/snapshots {name}            a snapshot object + a frozen copy   201
 *   POST /v1/projects/P/volumes/V/restore   {snapshot}        the snapshot's data back in V       200
 *   POST /v1/projects/P/volumes/V/clone     {name, snapshot?} a new volume with V's (or S's) data 201
 *   POST /v1/projects/P/volumes/V/resize    {size}            spec.size grown, the file and ext4  200
 *
 * Objects are written through the generic routes as the caller (loopback: permission,
 * validation, admission, quotas, audit), then the node acts (node/agent/volumes-endpoint.ts); when
 * the node fails, the object just made is deleted again, so nothing is left half-made. Each
 * answers `{object, message}`. A restore of a volume attached to an instance is refused (409
 * STRATUS_ERR_VOLUME_IN_USE naming it); a volume no instance has used yet has no data to copy
 * (409 STRATUS_ERR_VOLUME_NOT_READY).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiDeps } from '../server.js';
import { DnsLabel, SizeQuantity, Strict } from '../../model/schema.js';
import { StratusError } from '../../model/errors.js';
import { snapshotKind, volumeKind } from '../../model/kinds/index.js';
import type { Volume } from '../../model/kinds/volume.js';
import type { Kind } from '../../model/kind.js';
import type { Snapshot } from '../../model/kinds/snapshot.js';
import { formatMebibytes } from '../../model/quantity.js';
import { agentAt } from '../agent-link.js';
import { loopback } from '../stacks/loopback.js';
import { AGENT_VOLUME_OPS } from '../../client/volumes.js';

const Params = Type.Object({ project: DnsLabel(), name: DnsLabel() }, Strict);
const SnapshotBody = Type.Object({ name: DnsLabel({ description: 'The snapshot\'s name.' }) }, Strict);
const RestoreBody = Type.Object({ snapshot: DnsLabel({ description: 'A Ready snapshot of this volume.' }) }, Strict);
const CloneBody = Type.Object({ name: DnsLabel({ description: 'The new volume\'s name.' }), snapshot: Type.Optional(DnsLabel({ description: 'Clone this snapshot of the volume instead of its current data.' })) }, Strict);
const ResizeBody = Type.Object({ size: SizeQuantity('The new size; larger than the current one.') }, Strict);
type P = Static<typeof Params>;

export async function volumeRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  const route = (summary: string, body: object, kind: Kind, verb: 'create' | 'update') => ({
    schema: { tags: ['Volume'], summary, params: Params, body },
    config: { permission: { kind, verb } },
  });

  app.post('/v1/projects/:project/volumes/:name/snapshots', route('Snapshot a volume on its node', SnapshotBody, snapshotKind, 'create'), async (req, reply) => {
    const { project, name } = req.params as P;
    const body = req.body as Static<typeof SnapshotBody>;
    req.target = { kind: 'snapshot', project, name: body.name, action: 'create' };
    const { vol, node } = await placed(deps, project, name, 'to snapshot');
    const made = (await loopback(app, req).write('POST', snapshotKind, body.name, project, { kind: 'snapshot', metadata: { name: body.name }, spec: { volume: name, size: vol.spec.size } }, false)) as Snapshot;
    const { bytes } = await undoing(() => onNode(deps, node, 'snapshot', { project, volume: name, snapshot: body.name }), () => deps.repo.delete(snapshotKind, body.name, project));
    const ready = await deps.repo.setStatus(snapshotKind, made, { phase: 'Ready', node, takenAt: new Date(deps.clock.now()).toISOString(), message: `${formatMebibytes(Math.ceil(Number(bytes) / 1048576))} copied on node ${node}` });
    reply.code(201);
    return { object: ready, message: `snapshot/${body.name} of volume ${name} taken on node ${node}` };
  });

  app.post('/v1/projects/:project/volumes/:name/restore', route('Restore a detached volume from one of its snapshots', RestoreBody, volumeKind, 'update'), async (req) => {
    const { project, name } = req.params as P;
    const body = req.body as Static<typeof RestoreBody>;
    req.target = { kind: 'volume', project, name, action: 'restore' };
    const { vol, node } = await placed(deps, project, name, 'to restore');
    if (vol.status?.attachedTo) throw new StratusError('STRATUS_ERR_VOLUME_IN_USE', `volume "${name}" is attached to instance "${vol.status.attachedTo}"; stop or delete it before restoring the volume`, { volume: name, instance: vol.status.attachedTo });
    await snapshotOf(deps, project, name, body.snapshot, 'snapshot');
    await onNode(deps, node, 'restore', { project, volume: name, snapshot: body.snapshot, size: String(vol.spec.size), type: vol.spec.type });
    return { object: vol, message: `volume/${name} restored from snapshot ${body.snapshot}` };
  });

  app.post('/v1/projects/:project/volumes/:name/clone', route('Clone a volume (or one of its snapshots) into a new volume on the same node', CloneBody, volumeKind, 'create'), async (req, reply) => {
    const { project, name } = req.params as P;
    const body = req.body as Static<typeof CloneBody>;
    req.target = { kind: 'volume', project, name: body.name, action: 'create' };
    const { vol, node } = await placed(deps, project, name, 'to clone');
    if (body.snapshot) await snapshotOf(deps, project, name, body.snapshot, 'snapshot');
    const made = await loopback(app, req).write('POST', volumeKind, body.name, project, { kind: 'volume', metadata: { name: body.name }, spec: { size: vol.spec.size, type: vol.spec.type, node } }, false);
    await undoing(() => onNode(deps, node, 'clone', { project, volume: name, to: body.name, uid: made.metadata.uid, size: String(vol.spec.size), type: vol.spec.type, ...(body.snapshot ? { snapshot: body.snapshot } : {}) }), () => deps.repo.delete(volumeKind, body.name, project));
    reply.code(201);
    return { object: made, message: `volume/${body.name} cloned from ${body.snapshot ? `snapshot ${body.snapshot} of ` : ''}volume ${name} on node ${node}` };
  });

  app.post('/v1/projects/:project/volumes/:name/resize', route('Grow a volume (online when mounted, where the kernel allows)', ResizeBody, volumeKind, 'update'), async (req: FastifyRequest) => {
    const { project, name } = req.params as P;
    req.target = { kind: 'volume', project, name, action: 'resize' };
    const vol = await deps.repo.get<Volume>(volumeKind, name, project);
    const size = (req.body as { size: string | number }).size;
    const grown = (await loopback(app, req).write('PUT', volumeKind, name, project, { kind: 'volume', metadata: { name, labels: vol.metadata.labels, annotations: vol.metadata.annotations }, spec: { ...vol.spec, size } }, false)) as Volume;
    const node = grown.spec.node ?? grown.status?.node;
    const to = formatMebibytes(grown.spec.size);
    if (!node) return { object: grown, message: `volume/${name} resized to ${to} (it is made at that size on first use)` };
    const { online } = await onNode(deps, node, 'resize', { project, volume: name, size: String(grown.spec.size), type: grown.spec.type });
    return { object: grown, message: `volume/${name} resized to ${to}${online === false ? ' (the filesystem grows when the volume is next attached: this node refused to grow it while mounted)' : ''}` };
  });
}

/** The volume and the node that keeps its data; refused when it has none yet. */
async function placed(deps: ApiDeps, project: string, name: string, what: string): Promise<{ vol: Volume; node: string }> {
  const vol = await deps.repo.get<Volume>(volumeKind, name, project);
  const node = vol.spec.node ?? vol.status?.node;
  if (!node) throw new StratusError('STRATUS_ERR_VOLUME_NOT_READY', `volume "${name}" has no data yet: it is made on the node of the first instance that uses it; nothing ${what}`, { volume: name });
  return { vol, node };
}

/** A Ready snapshot of `volume`, or a refusal naming `field`. */
async function snapshotOf(deps: ApiDeps, project: string, volume: string, name: string, field: string): Promise<Snapshot> {
  const snap = await deps.repo.find<Snapshot>(snapshotKind, name, project);
  if (!snap) throw new StratusError('STRATUS_ERR_NOT_FOUND', `${field}: snapshot "${name}" not found in project "${project}"`, { field });
  if (snap.spec.volume !== volume) throw new StratusError('STRATUS_ERR_BAD_REQUEST', `${field}: snapshot "${name}" is of volume "${snap.spec.volume}", not "${volume}"`, { field });
  if (snap.status?.phase !== 'Ready') throw new StratusError('STRATUS_ERR_VOLUME_NOT_READY', `${field}: snapshot "${name}" has no data (phase ${snap.status?.phase ?? 'Pending'})`, { field });
  return snap;
}

/** `fn`, and when it fails, `undo` (best effort) before the failure is answered. */
async function undoing<T>(fn: () => Promise<T>, undo: () => Promise<unknown>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    await undo().catch(() => undefined);
    throw e;
  }
}

/**
 * Asks the agent of `node` to do `op` (volumes-endpoint.ts); its refusals keep their meaning.
 * Also the server's volume controller's way to remove the data of deleted volumes and snapshots.
 */
export async function onNode(deps: Pick<ApiDeps, 'repo' | 'clock'>, node: string, op: string, params: Record<string, string>): Promise<Record<string, unknown>> {
  const agent = await agentAt(deps, node, 'volume operations');
  const path = `${AGENT_VOLUME_OPS}${op}?${new URLSearchParams(params)}`;
  let res: Response;
  try {
    res = await fetch(agent.address + path, { method: 'POST', headers: agent.sign('POST', path) });
  } catch (e) {
    throw new StratusError('STRATUS_ERR_UNAVAILABLE', `cannot reach the agent of node "${node}" at ${agent.address}: ${(e as { cause?: Error }).cause?.message ?? (e as Error).message}`);
  }
  const text = await res.text();
  let body: { error?: { message?: string } } & Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch { /* not JSON: said below */ }
  if (res.ok) return body;
  const message = `node "${node}": ${body.error?.message ?? text}`;
  const code = res.status === 409 ? 'STRATUS_ERR_VOLUME_IN_USE' : res.status === 404 ? 'STRATUS_ERR_VOLUME_NOT_READY' : res.status === 400 ? 'STRATUS_ERR_BAD_REQUEST' : 'STRATUS_ERR_UNAVAILABLE';
  throw new StratusError(code, message);
}
