/**
 * Keeps each volume's status from the instances that use it (level-triggered, leader only):
 *
 *   status.node        spec.node, else the node it already has, else the node of the first
 *                      instance that uses it and was bound to a node (the volume is made there)
 *   status.attachedTo  the instance that uses it and occupies its node now
 *   status.phase       Attached (attachedTo), Available (on a node, free), Pending (on no node yet)
 *
 *   instances informer ─┐
 *   volumes informer ───┴─▶ dirty volumes ─▶ desired status ─▶ write when it differs
 *
 * The scheduler reads status.node to place the volume's next instances on it
 * (scheduler/engine/plugins/volumes.ts); the volume routes read attachedTo to refuse a restore of
 * a volume in use. When a volume or a snapshot is deleted, its node is asked to remove its data
 * (`removeData`, injected by the server: a signed call to the node's agent); best effort: a node
 * that is away keeps the file (health says so).
 */
import type { Repository } from '../store/repository.js';
import type { Component } from '../runtime/component.js';
import type { Informers } from '../runtime/informers.js';
import type { Informer, Subscription } from '../runtime/informer.js';
import { instanceKind, snapshotKind, volumeKind } from '../model/kinds/index.js';
import type { Snapshot } from '../model/kinds/snapshot.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Volume } from '../model/kinds/volume.js';
import { FINISHED } from '../model/lifecycle.js';

type VolumeStatus = NonNullable<Volume['status']>;

/** Has `node` remove the data of a deleted volume or snapshot (api/routes/volumes.ts onNode). */
export type RemoveData = (node: string, op: 'remove' | 'remove-snapshot', params: Record<string, string>) => Promise<unknown>;

/** Phases in which an instance holds its node (and so its volumes; `Off`: stopped by a person, still holding them). */
const ON_NODE = new Set(['Scheduled', 'Starting', 'Running', 'Stopping', 'Off']);

/** The status `vol` should have, given the instances of its project that name it. Pure. */
export function volumeStatus(vol: Volume, users: readonly Instance[]): VolumeStatus {
  const bound = users.filter((i) => i.status?.node && !FINISHED.has(i.status.phase));
  const attached = bound.find((i) => ON_NODE.has(i.status!.phase));
  const node = vol.spec.node ?? vol.status?.node ?? oldest(bound)?.status?.node;
  if (attached) return { phase: 'Attached', node: node!, attachedTo: attached.metadata.name, message: `used by instance ${attached.metadata.name} on node ${attached.status!.node}` };
  if (node) return { phase: 'Available', node, message: `on node ${node}; instances that use it run there` };
  return { phase: 'Pending', message: 'provisioned on the node of the first instance that uses it' };
}

function oldest(list: readonly Instance[]): Instance | undefined {
  return [...list].sort((a, b) => a.metadata.createdAt.localeCompare(b.metadata.createdAt))[0];
}

function sameStatus(a: VolumeStatus | undefined, b: VolumeStatus): boolean {
  return a?.phase === b.phase && a.node === b.node && a.attachedTo === b.attachedTo && a.message === b.message;
}

export class VolumeController implements Component {
  readonly name = 'volume-controller';
  private readonly volumes: Informer<Volume>;
  private readonly instances: Informer<Instance>;
  private subs: Subscription[] = [];
  private readonly dirty = new Set<string>();
  private flushing: Promise<void> | undefined;
  private lastError = '';

  private readonly snapshots: Informer<Snapshot>;

  constructor(private readonly repo: Repository, informers: Informers, private readonly opts: { removeData?: RemoveData } = {}) {
    this.volumes = informers.of<Volume>(volumeKind);
    this.instances = informers.of<Instance>(instanceKind);
    this.snapshots = informers.of<Snapshot>(snapshotKind);
  }

  async start(): Promise<void> {
    const touchVolume = (v: Volume) => this.touch(`${v.metadata.project}/${v.metadata.name}`);
    const touchUses = (i: Instance) => { for (const u of i.spec.volumes ?? []) this.touch(`${i.metadata.project}/${u.volume}`); };
    this.subs = [
      await this.volumes.use({ add: touchVolume, update: (_o, v) => touchVolume(v), delete: (v) => this.remove(v.spec.node ?? v.status?.node, 'remove', { project: v.metadata.project!, volume: v.metadata.name }) }),
      await this.instances.use({ add: touchUses, update: (o, i) => { touchUses(o); touchUses(i); }, delete: touchUses }),
      await this.snapshots.use({ delete: (s) => this.remove(s.status?.node, 'remove-snapshot', { project: s.metadata.project!, snapshot: s.metadata.name }) }, { replay: false }),
    ];
  }

  async stop(): Promise<void> {
    for (const s of this.subs) s.close();
    this.subs = [];
    await this.flushing;
  }

  health(): string {
    return this.lastError;
  }

  private remove(node: string | undefined, op: 'remove' | 'remove-snapshot', params: Record<string, string>): void {
    if (!node || !this.opts.removeData) return;
    this.opts.removeData(node, op, params).catch((e: Error) => (this.lastError = `${op} ${Object.values(params).join('/')} on node ${node}: ${e.message}`));
  }

  private touch(key: string): void {
    this.dirty.add(key);
    if (!this.flushing) this.flushing = Promise.resolve().then(() => this.flush()).finally(() => (this.flushing = undefined));
  }

  /** Writes the status of each dirty volume whose stored status differs; failed writes stay dirty for the next change. */
  private async flush(): Promise<void> {
    while (this.dirty.size > 0) {
      const keys = [...this.dirty];
      this.dirty.clear();
      for (const key of keys) {
        const [project, name] = key.split('/') as [string, string];
        const vol = this.volumes.items.get(key);
        if (!vol) continue;
        const users = [...this.instances.items.values()].filter((i) => i.metadata.project === project && i.spec.volumes?.some((u) => u.volume === name));
        const want = volumeStatus(vol, users);
        if (sameStatus(vol.status, want)) continue;
        try {
          await this.repo.update<Volume>(volumeKind, name, project, (cur) => (sameStatus(cur.status, volumeStatus(cur, users)) ? undefined : { ...cur, status: volumeStatus(cur, users) }));
          this.lastError = '';
        } catch (e) {
          this.lastError = `volume ${key}: ${(e as Error).message}`;
        }
      }
    }
  }
}
