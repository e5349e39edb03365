/**
 * Planning a stack: every object of the files is validated by the API as the caller (a dry run of
 * the write it would be) and compared field by field with what is stored; nothing is written. A
 * file with any object the API would refuse plans nothing: one StackFileError lists every
 * problem in the file's terms ("shop.yaml:7: services.web.replicas: -1 is less than ...").
 */
import type { StoredObject } from '../../model/kind.js';
import { ALL_KINDS, stackKind } from '../../model/kinds/index.js';
import { STACK_LABEL } from '../../model/kinds/stack.js';
import { StratusError } from '../../model/errors.js';
import { diff, userPart, type Change } from '../../model/stack/diff.js';
import { StackFileError, waves, type StackObject } from '../../model/stack/file.js';
import { hasChanges, type LoadedStack, type ObjectRef, type StackPlanJson } from '../../model/stack/plan.js';
import type { ObjectApi } from './loopback.js';

export interface PlanItem {
  obj: StackObject;
  project: string;
  action: 'create' | 'update' | 'unchanged';
  changes: Change[];
  /** What the API would store (the dry run's answer). */
  desired: StoredObject;
  wave: number;
}

export interface StackPlan {
  stack?: string;
  /** In file order. */
  items: PlanItem[];
  /** Items wave by wave (dependsOn order). */
  waves: PlanItem[][];
  prune: ObjectRef[];
}

/** A problem the API found with one object, for the refusal that lists them all. */
interface Problem {
  object: string;
  code: string;
  message: string;
  path?: string;
}

/** Plans `loaded` in `project` (the URL's: objects that name none go there). Writes nothing. */
export async function planStack(api: ObjectApi, loaded: LoadedStack, project: string, prune: boolean): Promise<StackPlan> {
  const { file, stack } = loaded;
  const problems: Problem[] = [];
  const found: (PlanItem | undefined)[] = [];
  const waveOf = new Map(waves(file.objects).flatMap((w, i) => w.map((o) => [o, i] as const)));
  await inParallel(file.objects, async (obj, index) => {
    if (stack) obj.body.metadata.labels = { ...obj.body.metadata.labels, [STACK_LABEL]: stack };
    const where = (obj.body.metadata as { project?: string }).project ?? project;
    try {
      const current = await api.get(obj.kind, obj.name, where);
      const desired = await api.write(current ? 'PUT' : 'POST', obj.kind, obj.name, where, obj.body, true);
      const changes = diff(current ? userPart(current) : {}, userPart(desired));
      found[index] = { obj, project: where, action: current ? (changes.length ? 'update' : 'unchanged') : 'create', changes, desired, wave: waveOf.get(obj)! };
    } catch (e) {
      if (!(e instanceof StratusError)) throw e;
      const list = (e.details?.problems as { path: string; message: string }[] | undefined) ?? [{ path: '', message: e.message }];
      for (const p of list) problems.push({ object: `${obj.kind.kind}/${obj.name}`, code: e.code, message: p.path ? `${obj.path(p.path)}: ${p.message}` : `${obj.where}: ${p.message}`, ...(p.path ? { path: p.path } : {}) });
    }
  });
  if (problems.length > 0) {
    const lines = problems.map((p) => p.message);
    throw new StackFileError(`${problems.length === 1 ? 'the file is not valid' : `the file has ${problems.length} problems`}; nothing was applied:\n  ${lines.join('\n  ')}`, { problems });
  }
  const items = found as PlanItem[];
  const byWave: PlanItem[][] = [];
  for (const i of items) (byWave[i.wave] ??= []).push(i);
  return { ...(stack ? { stack } : {}), items, waves: byWave, prune: prune && stack ? await prunable(api, project, stack, items) : [] };
}

/** Objects of `project` labelled as the stack's that the files no longer have. */
async function prunable(api: ObjectApi, project: string, stack: string, items: PlanItem[]): Promise<ObjectRef[]> {
  const keep = new Set(items.map((i) => `${i.obj.kind.kind}/${i.project}/${i.obj.name}`));
  const out: ObjectRef[] = [];
  for (const kind of ALL_KINDS) {
    if (kind.scope !== 'project' || kind === stackKind) continue;
    for (const o of await api.list(kind, project, `${STACK_LABEL}=${stack}`)) {
      if (!keep.has(`${kind.kind}/${o.metadata.project}/${o.metadata.name}`)) out.push({ kind: kind.kind, name: o.metadata.name, project: o.metadata.project! });
    }
  }
  return out;
}

/** The plan as the API answers it. */
export function planJson(plan: StackPlan): StackPlanJson {
  return {
    ...(plan.stack ? { stack: plan.stack } : {}),
    changed: hasChanges(plan),
    items: plan.items.map((i) => ({ ...refOf(i), action: i.action, changes: i.changes, wave: i.wave, dependsOn: i.obj.dependsOn, desired: i.desired })),
    prune: plan.prune,
  };
}

export function refOf(i: PlanItem): ObjectRef {
  return { kind: i.obj.kind.kind, name: i.obj.name, ...(i.obj.kind.scope === 'project' ? { project: i.project } : {}) };
}

/** Runs `fn` over `items`, at most `limit` at a time; rejects with the first error. */
export async function inParallel<T>(items: readonly T[], fn: (item: T, index: number) => Promise<void>, limit = 16): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
