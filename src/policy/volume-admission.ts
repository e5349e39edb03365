/**
 * `volume-free` (instance kind): a volume is used by one instance at a time. Creating an instance
 * (or adding a volume to one) that names a volume an active instance of the project already uses
 * is refused with STRATUS_ERR_VOLUME_IN_USE (409) naming the field, e.g.
 * `spec.volumes[0].volume: volume "data" is in use by instance "db-1"; delete or stop it first`.
 * An instance pinned to a node (spec.placement.node) that names a volume living on another node is
 * refused too (400 naming the field): it could never run. A vm naming a filesystem volume is
 * refused (400 naming the field): the node mounts filesystem volumes, and would mount what a guest
 * wrote raw (the agent refuses it too: defence in depth, and for instances admitted before this rule).
 * A process or container sees a block volume as a device node at its path, which must be a name
 * under /dev (400 naming spec.volumes[i].path otherwise).
 * Races between two creates are caught later by the scheduler (engine/plugins/volumes.ts) and
 * the node (node/agent/volumes.ts), which each let one instance have the volume.
 */
import type { AdmissionPlugin } from './admission.js';
import { StratusError } from '../model/errors.js';
import { instanceKind, volumeKind } from '../model/kinds/index.js';
import type { Instance, InstanceSpec } from '../model/kinds/instance.js';
import type { Volume } from '../model/kinds/volume.js';
import { blockPathProblem, vmFilesystemProblem } from '../model/kinds/volume.js';

export const volumeFree: AdmissionPlugin = async (req, repo) => {
  if (req.op === 'delete' || !req.project || !req.object) return;
  const uses = (req.object.spec as InstanceSpec).volumes ?? [];
  const had = new Set(((req.prev?.spec as InstanceSpec | undefined)?.volumes ?? []).map((v) => v.volume));
  const wanted = uses.map((v, i) => ({ volume: v.volume, i })).filter((u) => !had.has(u.volume));
  if (wanted.length === 0) return;
  const names = new Set(wanted.map((u) => u.volume));
  const active = (o: Instance) => o.metadata.name !== req.name && (instanceKind.lifecycle.active?.(o) ?? true) && (o.spec.volumes ?? []).some((v) => names.has(v.volume));
  const { items } = await repo.list<Instance>(instanceKind, { project: req.project, filter: (o) => active(o as Instance) });
  const pin = (req.object.spec as InstanceSpec).placement?.node;
  const vm = (req.object.spec as InstanceSpec).driver === 'vm';
  for (const u of wanted) {
    const v = await repo.find<Volume>(volumeKind, u.volume, req.project);
    if (vm && v && v.spec.type !== 'block') {
      throw new StratusError('STRATUS_ERR_BAD_REQUEST', `spec.volumes[${u.i}].volume: ${vmFilesystemProblem(u.volume)}`, { field: `spec.volumes[${u.i}].volume`, volume: u.volume });
    }
    const pathProblem = !vm && v?.spec.type === 'block' ? blockPathProblem(uses[u.i]!.path) : undefined;
    if (pathProblem) throw new StratusError('STRATUS_ERR_BAD_REQUEST', `spec.volumes[${u.i}].path: ${pathProblem}`, { field: `spec.volumes[${u.i}].path`, volume: u.volume });
    const home = pin ? (v?.spec.node ?? v?.status?.node) : undefined;
    if (home && home !== pin) throw new StratusError('STRATUS_ERR_BAD_REQUEST', `spec.volumes[${u.i}].volume: volume "${u.volume}" lives on node ${home}, but spec.placement.node pins the instance to ${pin}; pin it to ${home} or leave the node out`, { field: `spec.volumes[${u.i}].volume`, volume: u.volume, node: home });
    const user = items.find((o) => o.spec.volumes?.some((v) => v.volume === u.volume));
    if (!user) continue;
    throw new StratusError('STRATUS_ERR_VOLUME_IN_USE', `spec.volumes[${u.i}].volume: volume "${u.volume}" is in use by instance "${user.metadata.name}" (phase ${user.status?.phase ?? 'Pending'}); a volume is used by one instance at a time: delete or stop that one first`, { field: `spec.volumes[${u.i}].volume`, volume: u.volume, instance: user.metadata.name });
  }
};
