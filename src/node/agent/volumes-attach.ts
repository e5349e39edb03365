/**
 * The agent's side of an instance's `spec.volumes`: reads the volume objects (a node may read the
 * volumes its bound instances name) and has the node's volumes (volumes.ts) provision and attach
 * them. Called from prepare.ts for every start.
 */
import type { ApiClient } from '../../client/index.js';
import type { Instance } from '../../model/kinds/instance.js';
import type { Volume } from '../../model/kinds/volume.js';
import { volumeKind } from '../../model/kinds/index.js';
import type { NodeVolumes, VolumeAttachments } from './volumes.js';

const NONE: VolumeAttachments = { mounts: [], devices: [], disks: [] };

/**
 * What `inst` gets from its volumes on node `node`. Throws naming the field when a volume is gone,
 * lives on another node, or this node has no volume support (`volumes` undefined).
 */
export async function attachVolumes(inst: Instance, api: ApiClient, node: string, volumes: NodeVolumes | undefined): Promise<VolumeAttachments> {
  const uses = inst.spec.volumes ?? [];
  if (uses.length === 0) return NONE;
  if (!volumes) throw new Error(`spec.volumes: node ${node} cannot attach volumes (its agent runs without volume support)`);
  const project = inst.metadata.project!;
  const objects = new Map<string, Volume>();
  for (const [i, use] of uses.entries()) {
    const vol = await api.resources<Volume>(volumeKind, project).get(use.volume);
    const home = vol.spec.node ?? vol.status?.node;
    if (home && home !== node) throw new Error(`spec.volumes[${i}].volume: volume "${use.volume}" lives on node ${home}, not on ${node}`);
    objects.set(use.volume, vol);
  }
  return volumes.attach(inst, objects);
}
