/**
 * What each node hosts: the instances bound to it (status.node), and from them the projects and
 * the objects (images, volumes...: the instance kind's `references`) a node's credential may read
 * (the node authorizer, node-authorizer.ts).
 *
 *   store watch of instances ─▶ NodeScope: node → bound instances, projects (counts, since when), references
 *                                   └─▶ onGrow(node): a project became hosted there
 *
 * Kept from a watch that is registered before any API request is served, and the store delivers
 * each commit to its watchers synchronously and in registration order, so a request (or a watch
 * stream) that sees an instance bound to a node also finds the node's scope updated.
 */
import type { Repository, ObjectEvent } from '../store/repository.js';
import type { Watcher } from '../store/backend.js';
import { instanceKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';

/** An instance bound to a node, as the scope knows it. */
export interface BoundInstance {
  uid: string;
  project: string;
  name: string;
  node: string;
  /** What it refers to, each once: "<kind>/<project>/<name>" (its image, network, secrets, volumes). */
  refs: string[];
}

interface Hosted {
  instances: Map<string, BoundInstance>;
  /** project → bound instances in it */
  projects: Map<string, number>;
  /** project → the revision at which it became hosted (at most: from a list, the instance's revision) */
  since: Map<string, number>;
  /** "<kind>/<project>/<name>" → bound instances referring to it */
  refs: Map<string, number>;
}

export class NodeScope {
  private readonly byUid = new Map<string, BoundInstance>();
  private readonly byNode = new Map<string, Hosted>();
  private readonly growListeners = new Map<string, Set<(project: string) => void>>();
  private watcher: Watcher | undefined;
  private stopped = false;

  constructor(private readonly repo: Repository) {}

  /** Lists the instances and follows them. Resolves once the scope is complete. */
  async start(): Promise<void> {
    // Watch from before the list (it may read several pages): replaying a change the list already
    // saw ends in the same state.
    const revision = await this.repo.revision();
    const { items } = await this.repo.list<Instance>(instanceKind);
    this.byUid.clear();
    this.byNode.clear();
    for (const i of items) this.put(i, i.metadata.revision);
    if (this.stopped) return;
    this.watcher = this.repo.watch<Instance>(instanceKind, undefined, revision, (e) => this.apply(e));
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** Whether an instance of `project` is bound to `node`. */
  hostsProject(node: string, project: string): boolean {
    return (this.byNode.get(node)?.projects.get(project) ?? 0) > 0;
  }

  /** Whether an instance bound to `node` refers to the object `kind` `project/name` (runs the image, uses the volume...). */
  references(node: string, kind: string, project: string, name: string): boolean {
    return (this.byNode.get(node)?.refs.get(refKey(kind, project, name)) ?? 0) > 0;
  }

  /** Whether an instance bound to `node` runs the image `project/name`. */
  usesImage(node: string, project: string, name: string): boolean {
    return this.references(node, 'image', project, name);
  }

  /**
   * Whether `node` started hosting a project (`project`, or any) after revision `from`: a watch from
   * there would not replay that project's objects that did not change since.
   */
  hostedSince(node: string, from: number, project?: string): boolean {
    const since = this.byNode.get(node)?.since;
    if (!since) return false;
    if (project !== undefined) return (since.get(project) ?? 0) > from;
    for (const rev of since.values()) if (rev > from) return true;
    return false;
  }

  /** The instances bound to `node` (a secret is readable by a node only if one of them references it). */
  boundInstancesOf(node: string): BoundInstance[] {
    return [...(this.byNode.get(node)?.instances.values() ?? [])];
  }

  /**
   * Calls `listener(project)` (synchronously, from the store's delivery, before watchers registered
   * later see the change) whenever a project becomes hosted by `node`: objects the node could not
   * read before are readable now. Returns the unsubscribe.
   */
  onGrow(node: string, listener: (project: string) => void): () => void {
    let set = this.growListeners.get(node);
    if (!set) this.growListeners.set(node, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.growListeners.get(node) === set) this.growListeners.delete(node);
    };
  }

  private apply(e: ObjectEvent<Instance>): void {
    if (e.type === 'resync') {
      // Only when the store closes or the watch fell behind compaction: read everything again.
      this.watcher = undefined;
      if (!this.stopped) void this.start().catch(() => undefined);
      return;
    }
    if (e.type === 'delete') this.remove(e.object.metadata.uid);
    else this.put(e.object, e.revision);
  }

  private put(i: Instance, revision: number): void {
    const node = i.status?.node;
    const before = this.byUid.get(i.metadata.uid);
    if (before && before.node === node) return;
    if (before) this.remove(before.uid);
    if (!node) return;
    const bound: BoundInstance = { uid: i.metadata.uid, project: i.metadata.project!, name: i.metadata.name, node, refs: refsOf(i) };
    this.byUid.set(bound.uid, bound);
    let hosted = this.byNode.get(node);
    if (!hosted) this.byNode.set(node, (hosted = { instances: new Map(), projects: new Map(), since: new Map(), refs: new Map() }));
    hosted.instances.set(bound.uid, bound);
    const grew = add(hosted.projects, bound.project, 1) === 1;
    for (const ref of bound.refs) add(hosted.refs, ref, 1);
    if (!grew) return;
    hosted.since.set(bound.project, Math.max(revision, hosted.since.get(bound.project) ?? 0));
    for (const listener of [...(this.growListeners.get(node) ?? [])]) listener(bound.project);
  }

  private remove(uid: string): void {
    const bound = this.byUid.get(uid);
    if (!bound) return;
    this.byUid.delete(uid);
    const hosted = this.byNode.get(bound.node)!;
    hosted.instances.delete(uid);
    if (add(hosted.projects, bound.project, -1) === 0) hosted.since.delete(bound.project);
    for (const ref of bound.refs) add(hosted.refs, ref, -1);
    if (hosted.instances.size === 0) this.byNode.delete(bound.node);
  }
}

/** Adds `n` to a count, dropping it at 0; returns the new count. */
function add(counts: Map<string, number>, key: string, n: number): number {
  const next = (counts.get(key) ?? 0) + n;
  if (next <= 0) counts.delete(key);
  else counts.set(key, next);
  return next;
}

const refKey = (kind: string, project: string, name: string) => `${kind}/${project}/${name}`;

/** What an instance refers to, each once, as the instance kind's description says. */
function refsOf(i: Instance): string[] {
  return [...new Set((instanceKind.references?.(i) ?? []).map((r) => refKey(r.kind, r.project, r.name)))];
}
