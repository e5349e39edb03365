/**
 * Project quotas, checked when an instance is created.
 *
 * Usage per project is kept from a watch on instances (finished instances count for nothing), so
 * the check is O(1). A create that passes reserves its share until the watch sees the object
 * (the same tick as the commit) or `RESERVATION_MS` passes (the create failed), so concurrent
 * creates cannot all squeeze under the limit. With several API servers (etcd) each one counts
 * its own reservations: the limit then holds up to the creates in flight at the same moment.
 */
import type { Repository, ObjectEvent } from '../store/repository.js';
import type { Watcher } from '../store/backend.js';
import { instanceKind, projectKind } from '../model/kinds/index.js';
import type { Instance, InstanceSpec } from '../model/kinds/instance.js';
import type { Project, Quotas } from '../model/kinds/project.js';
import { FINISHED } from '../model/lifecycle.js';
import { gpuMilli } from '../model/resources.js';
import { formatCpu, formatMebibytes } from '../model/quantity.js';
import { StratusError } from '../model/errors.js';
import type { AdmissionPlugin } from './admission.js';
import type { Component } from '../runtime/component.js';

export const RESERVATION_MS = 5000;

export interface Usage {
  cpu: number;
  memory: number;
  disk: number;
  gpu: number;
  instances: number;
}

const ZERO: Usage = { cpu: 0, memory: 0, disk: 0, gpu: 0, instances: 0 };
const FIELDS = ['cpu', 'memory', 'disk', 'gpu', 'instances'] as const;

export function usageOf(spec: InstanceSpec): Usage {
  return { cpu: spec.resources.cpu, memory: spec.resources.memory, disk: spec.resources.disk, gpu: gpuMilli(spec.resources.gpu), instances: 1 };
}

function add(a: Usage, b: Usage, sign = 1): Usage {
  return { cpu: a.cpu + sign * b.cpu, memory: a.memory + sign * b.memory, disk: a.disk + sign * b.disk, gpu: a.gpu + sign * b.gpu, instances: a.instances + sign * b.instances };
}

function show(field: (typeof FIELDS)[number], v: number): string {
  if (field === 'cpu') return formatCpu(v);
  if (field === 'memory' || field === 'disk') return formatMebibytes(v);
  if (field === 'gpu') return `${v / 1000} GPU`;
  return String(v);
}

export class QuotaTracker implements Component {
  readonly name = 'quota';
  private readonly byInstance = new Map<string, { project: string; usage: Usage }>();
  private readonly byProject = new Map<string, Usage>();
  private readonly reservations = new Map<string, { project: string; usage: Usage; until: number }>();
  private watcher?: Watcher;

  /** `onChange`: told the project whose counted usage (`counted`) changed, once per change. */
  constructor(private readonly repo: Repository, private readonly onChange?: (project: string) => void) {}

  async start(): Promise<void> {
    const { items, revision } = await this.repo.list<Instance>(instanceKind);
    for (const i of items) this.set(i);
    this.watcher = this.repo.watch<Instance>(instanceKind, undefined, revision, (e) => this.onEvent(e));
  }

  async stop(): Promise<void> {
    this.watcher?.close();
  }

  /** What the project's instances that are not finished reserve (no reservations of creates in flight). */
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
    if (req.kind !== instanceKind || req.op !== 'create' || !req.project || !req.object) return;
    const project = await this.repo.find<Project>(projectKind, req.project);
    const quotas = project?.spec.quotas;
    if (!quotas) return;
    const asked = usageOf(req.object.spec as InstanceSpec);
    const used = this.usage(req.project);
    const over = exceeded(quotas, used, asked);
    if (over) {
      throw new StratusError('STRATUS_ERR_QUOTA_EXCEEDED',
        `project "${req.project}" would exceed its ${over} quota: ${show(over, used[over])} used + ${show(over, asked[over])} asked > ${show(over, quotas[over]!)} allowed`,
        { project: req.project, quota: over, used: used[over], asked: asked[over], limit: quotas[over] });
    }
    if (req.dryRun) return;
    this.reservations.set(`${req.project}/${req.name}`, { project: req.project, usage: asked, until: this.repo.clock.now() + RESERVATION_MS });
  };

  private onEvent(e: ObjectEvent<Instance>): void {
    if (e.type === 'resync') {
      void this.restart();
      return;
    }
    if (e.type === 'delete') this.unset(e.object);
    else this.set(e.object);
  }

  private async restart(): Promise<void> {
    this.watcher?.close();
    this.byInstance.clear();
    this.byProject.clear();
    await this.start();
  }

  private set(i: Instance): void {
    this.unset(i);
    if (i.status && FINISHED.has(i.status.phase)) return;
    const project = i.metadata.project!;
    const usage = usageOf(i.spec);
    this.byInstance.set(`${project}/${i.metadata.name}`, { project, usage });
    this.byProject.set(project, add(this.byProject.get(project) ?? ZERO, usage));
    this.onChange?.(project);
  }

  private unset(i: Instance): void {
    const key = `${i.metadata.project}/${i.metadata.name}`;
    this.reservations.delete(key);
    const prev = this.byInstance.get(key);
    if (!prev) return;
    this.byInstance.delete(key);
    this.byProject.set(prev.project, add(this.byProject.get(prev.project) ?? ZERO, prev.usage, -1));
    this.onChange?.(prev.project);
  }
}

/** The first quota that `used + asked` would exceed, or undefined. */
export function exceeded(q: Quotas, used: Usage, asked: Usage): (typeof FIELDS)[number] | undefined {
  return FIELDS.find((f) => q[f] !== undefined && asked[f] > 0 && used[f] + asked[f] > q[f]!);
}
