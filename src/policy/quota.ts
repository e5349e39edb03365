/**
 * Project quotas, checked when an object of a kind that takes from them is created (the kind's
 * `quota` in its description: an instance its resources, a volume its size).
 *
 * Usage per project is kept from the shared informer of each such kind (runtime/informers.ts;
 * objects that are no longer active, such as finished instances, count for nothing), so the check
 * is O(1). A create that passes reserves its share until the informer sees the object (the same tick as the commit) or
 * `RESERVATION_MS` passes (the create failed), so concurrent creates cannot all squeeze under the
 * limit. With several API servers (etcd) each one counts its own reservations: the limit then
 * holds up to the creates in flight at the same moment.
 */
import type { Repository } from '../store/repository.js';
import type { Kind, QuotaName, StoredObject } from '../model/kind.js';
import { ALL_KINDS, projectKind } from '../model/kinds/index.js';
import { QUOTAS, type Project, type Quotas } from '../model/kinds/project.js';
import { StratusError } from '../model/errors.js';
import type { AdmissionPlugin } from './admission.js';
import type { Component } from '../runtime/component.js';
import type { Informer, Subscription } from '../runtime/informer.js';
import { Informers } from '../runtime/informers.js';

export const RESERVATION_MS = 5000;

/**
 * What a project uses, by quota. The instance quotas are always there (0 when unused); the others
 * only once something takes from them, so that a project without volumes shows no volume usage.
 */
export type Usage = Record<'cpu' | 'memory' | 'disk' | 'gpu' | 'instances', number> & Partial<Record<QuotaName, number>>;

const ALWAYS = ['cpu', 'memory', 'disk', 'gpu', 'instances'] as const;
const ZERO: Usage = { cpu: 0, memory: 0, disk: 0, gpu: 0, instances: 0 };

/** The kinds whose objects take from quotas. */
const QUOTA_KINDS: readonly Kind[] = ALL_KINDS.filter((k) => k.quota !== undefined);

/** What `obj` of `kind` takes, by quota. */
export function usageOf(kind: Kind, obj: StoredObject): Usage {
  return add(ZERO, kind.quota?.usage(obj) ?? {});
}

function add(a: Usage, b: Partial<Record<QuotaName, number>>, sign = 1): Usage {
  const out: Usage = { ...ZERO };
  for (const { name } of QUOTAS) {
    const v = (a[name] ?? 0) + sign * (b[name] ?? 0);
    if (v !== 0 || (ALWAYS as readonly string[]).includes(name)) out[name] = v;
  }
  return out;
}

function show(field: QuotaName, v: number): string {
  return QUOTAS.find((q) => q.name === field)!.show(v);
}

export class QuotaTracker implements Component {
  readonly name = 'quota';
  private readonly byObject = new Map<string, { project: string; usage: Usage }>();
  private readonly byProject = new Map<string, Usage>();
  private readonly reservations = new Map<string, { project: string; usage: Usage; until: number }>();
  private subs: Subscription[] = [];
  /** The projects' informer: their quotas, read without a store round trip on every create. */
  private projects: Informer<Project> | undefined;

  /**
   * `onChange`: told the project whose counted usage (`counted`) changed, once per change.
   * `informers`: the process's shared informers (default: this tracker's own).
   */
  constructor(private readonly repo: Repository, private readonly onChange?: (project: string) => void, private readonly informers: Informers = new Informers(repo)) {}

  /** Subscribes to each quota kind's informer (what it holds is counted at once; after a resync, the differences). */
  async start(): Promise<void> {
    const projects = this.informers.of<Project>(projectKind);
    this.subs.push(await projects.use());
    this.projects = projects;
    for (const kind of QUOTA_KINDS) {
      this.subs.push(await this.informers.of(kind).use({
        add: (o) => this.set(kind, o),
        update: (_old, o) => this.set(kind, o),
        delete: (o) => this.unset(kind, o),
      }));
    }
  }

  async stop(): Promise<void> {
    for (const s of this.subs) s.close();
    this.subs = [];
  }

  /** What the project's active objects take (instances not finished, volumes...; no reservations of creates in flight). */
  counted(project: string): Usage {
    return this.byProject.get(project) ?? ZERO;
  }

  /** Current usage of a project, reservations included. */
  usage(project: string): Usage {
    let u = this.byProject.get(project) ?? ZERO;
    const now = this.repo.clock.now();
    for (const [key, r] of this.reservations) {
      if (r.until < now) this.reservations.delete(key);
      else if (r.project === project) u = add(u, r.usage);
    }
    return u;
  }

  readonly admission: AdmissionPlugin = async (req) => {
    if (!req.kind.quota || req.op !== 'create' || !req.project || !req.object) return;
    // the cached project (an informer is as fresh as the store's watch: a quota changed on another
    // server applies within its delivery), else the store's
    const project = this.projects?.get(req.project) ?? await this.repo.find<Project>(projectKind, req.project);
    const quotas = project?.spec.quotas;
    if (!quotas) return;
    const asked = usageOf(req.kind, req.object as StoredObject);
    const used = this.usage(req.project);
    const over = exceeded(quotas, used, asked);
    if (over) {
      throw new StratusError('STRATUS_ERR_QUOTA_EXCEEDED',
        `project "${req.project}" would exceed its ${over} quota: ${show(over, used[over] ?? 0)} used + ${show(over, asked[over] ?? 0)} asked > ${show(over, quotas[over]!)} allowed`,
        { project: req.project, quota: over, used: used[over] ?? 0, asked: asked[over], limit: quotas[over] });
    }
    if (req.dryRun) return;
    this.reservations.set(keyOf(req.kind, req.project, req.name), { project: req.project, usage: asked, until: this.repo.clock.now() + RESERVATION_MS });
  };

  private set(kind: Kind, o: StoredObject): void {
    this.unset(kind, o);
    if (kind.lifecycle.active && !kind.lifecycle.active(o)) return;
    const project = o.metadata.project!;
    const usage = usageOf(kind, o);
    this.byObject.set(keyOf(kind, project, o.metadata.name), { project, usage });
    this.byProject.set(project, add(this.byProject.get(project) ?? ZERO, usage));
    this.onChange?.(project);
  }

  private unset(kind: Kind, o: StoredObject): void {
    const key = keyOf(kind, o.metadata.project!, o.metadata.name);
    this.reservations.delete(key);
    const prev = this.byObject.get(key);
    if (!prev) return;
    this.byObject.delete(key);
    this.byProject.set(prev.project, add(this.byProject.get(prev.project) ?? ZERO, prev.usage, -1));
    this.onChange?.(prev.project);
  }
}

const keyOf = (kind: Kind, project: string, name: string) => `${kind.kind}/${project}/${name}`;

/** The first quota that `used + asked` would exceed, or undefined. */
export function exceeded(q: Quotas, used: Partial<Record<QuotaName, number>>, asked: Partial<Record<QuotaName, number>>): QuotaName | undefined {
  return QUOTAS.map((x) => x.name).find((f) => q[f] !== undefined && (asked[f] ?? 0) > 0 && (used[f] ?? 0) + (asked[f] ?? 0) > q[f]!);
}
