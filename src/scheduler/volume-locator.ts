/**
 * The live scheduler's view of volumes: where each lives (spec.node, else status.node, set by the
 * volume controller from its first instance) and which occupying instance uses it now, kept from
 * the shared informers. `locate` is the engine's VolumeLocator (engine/plugins/volumes.ts).
 */
import type { Informer, Subscription } from '../runtime/informer.js';
import type { Informers } from '../runtime/informers.js';
import { instanceKind, volumeKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Volume } from '../model/kinds/volume.js';
import { occupiesNode } from './engine/snapshot.js';
import type { VolumeConstraint } from './engine/types.js';

export class VolumeLocator {
  private readonly volumes: Informer<Volume>;
  private readonly instances: Informer<Instance>;
  /** "project/volume" → the occupying instances that use it, by "project/name". */
  private readonly users = new Map<string, Map<string, Instance>>();

  constructor(informers: Informers) {
    this.volumes = informers.of<Volume>(volumeKind);
    this.instances = informers.of<Instance>(instanceKind);
  }

  /** Follows volumes and instances; `changed` is told when a volume changes (its node may let instances in). */
  async start(changed: () => void): Promise<Subscription[]> {
    const onInstance = (prev: Instance | undefined, next: Instance | undefined) => {
      if (prev) this.index(prev, false);
      if (next) this.index(next, occupiesNode(next));
    };
    return [
      await this.volumes.use({ add: changed, update: changed, delete: changed }, { replay: false }),
      await this.instances.use({ add: (i) => onInstance(undefined, i), update: (o, i) => onInstance(o, i), delete: (i) => onInstance(i, undefined) }),
    ];
  }

  /** Where `inst` may run for its volumes (see VolumeConstraint). */
  readonly locate = (inst: Instance): VolumeConstraint | undefined => {
    const project = inst.metadata.project ?? '';
    const self = `${project}/${inst.metadata.name}`;
    const nodes = new Map<string, string>();
    for (const use of inst.spec.volumes ?? []) {
      const key = `${project}/${use.volume}`;
      const other = [...(this.users.get(key)?.entries() ?? [])].find(([k]) => k !== self)?.[1];
      if (other) return { reason: `volume "${use.volume}" is in use by instance "${other.metadata.name}"` };
      const vol = this.volumes.items.get(key);
      const node = vol?.spec.node ?? vol?.status?.node;
      if (node) nodes.set(use.volume, node);
    }
    const distinct = new Set(nodes.values());
    if (distinct.size > 1) return { reason: `its volumes are on different nodes (${[...nodes].map(([v, n]) => `"${v}" on ${n}`).join(', ')})` };
    const [volume, node] = [...nodes][0] ?? [];
    return node ? { node, reason: `volume "${volume}" is on node ${node}` } : undefined;
  };

  private index(inst: Instance, add: boolean): void {
    const self = `${inst.metadata.project}/${inst.metadata.name}`;
    for (const use of inst.spec.volumes ?? []) {
      const key = `${inst.metadata.project}/${use.volume}`;
      let m = this.users.get(key);
      if (add) {
        if (!m) this.users.set(key, (m = new Map()));
        m.set(self, inst);
      } else if (m?.delete(self) && m.size === 0) this.users.delete(key);
    }
  }
}
