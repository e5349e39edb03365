/**
 * plan and apply for stack files.
 *
 *   plan:  every object is validated by the server (dry run) and compared field by field with
 *          what is stored; nothing changes. A file with any invalid object applies nothing.
 *   apply: objects are written wave by wave (dependsOn); a wave waits until what later waves
 *          depend on is healthy; --prune deletes the stack's objects the file no longer has;
 *          then it follows every rollout until done, and fails with the reason if one fails.
 */
import type { Cli } from '../context.js';
import { ApiError, CliError } from '../errors.js';
import type { StoredObject } from '../../model/kind.js';
import { ALL_KINDS, serviceKind, stackKind } from '../../model/kinds/index.js';
import { APPLIED_ANNOTATION, STACK_LABEL } from '../../model/kinds/stack.js';
import { diff, showChange, userPart, type Change } from './diff.js';
import { waves, type StackFile, type StackObject } from './file.js';
import { Progress, health, type Health } from './progress.js';

export interface PlanItem {
  obj: StackObject;
  project: string;
  action: 'create' | 'update' | 'unchanged';
  changes: Change[];
  /** What the server would store (the dry run's answer). */
  desired: StoredObject;
}

export interface StackPlan {
  stack?: string;
  items: PlanItem[];
  prune: { kind: string; plural: string; name: string; project: string }[];
}

function projectOf(cli: Cli, o: StackObject): string {
  return (o.body.metadata as { project?: string }).project ?? cli.project;
}

function pathOf(o: StackObject, project: string): string {
  return o.kind.scope === 'cluster' ? `/v1/${o.kind.plural}/${o.name}` : `/v1/projects/${project}/${o.kind.plural}/${o.name}`;
}

/** Validates every object (dry run) and says what would change. Throws one error listing every invalid field. */
export async function planStack(cli: Cli, file: StackFile, stack: string | undefined, prune: boolean): Promise<StackPlan> {
  const problems: string[] = [];
  const found: (PlanItem | undefined)[] = [];
  await inParallel(file.objects, async (obj, index) => {
    if (stack) obj.body.metadata.labels = { ...obj.body.metadata.labels, [STACK_LABEL]: stack };
    const project = projectOf(cli, obj);
    const path = pathOf(obj, project);
    const current = await cli.client.get<StoredObject>(path).catch((e: unknown) => {
      if (e instanceof ApiError && e.status === 404 && e.code === 'STRATUS_ERR_NOT_FOUND') return undefined;
      throw e;
    });
    try {
      const desired = current
        ? await cli.client.request<StoredObject>('PUT', path, { body: obj.body, query: { dryRun: true } })
        : await cli.client.request<StoredObject>('POST', path.slice(0, path.lastIndexOf('/')), { body: obj.body, query: { dryRun: true } });
      const changes = diff(userPart(current), userPart(desired));
      found[index] = { obj, project, action: current ? (changes.length ? 'update' : 'unchanged') : 'create', changes, desired };
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      const list = (e.details?.problems as { path: string; message: string }[] | undefined) ?? [{ path: '', message: e.message }];
      for (const p of list) problems.push(p.path ? `${obj.path(p.path)}: ${p.message}` : `${obj.where}: ${p.message}`);
    }
  });
  const items = found.filter((i): i is PlanItem => i !== undefined);
  if (problems.length > 0) {
    throw new CliError(`${problems.length === 1 ? 'the file is not valid' : `the file has ${problems.length} problems`}; nothing was applied:\n  ${problems.join('\n  ')}`);
  }
  return { ...(stack ? { stack } : {}), items, prune: prune && stack ? await prunable(cli, stack, items) : [] };
}

/** Objects labelled as the stack's that the file no longer has. */
async function prunable(cli: Cli, stack: string, items: PlanItem[]): Promise<StackPlan['prune']> {
  const keep = new Set(items.map((i) => `${i.obj.kind.kind}/${i.project}/${i.obj.name}`));
  const out: StackPlan['prune'] = [];
  for (const kind of ALL_KINDS) {
    if (kind.scope !== 'project' || kind === stackKind) continue;
    const { items: found } = await cli.client.listAll<StoredObject>(`/v1/projects/${cli.project}/${kind.plural}`, { selector: `${STACK_LABEL}=${stack}` });
    for (const o of found) if (!keep.has(`${kind.kind}/${o.metadata.project}/${o.metadata.name}`)) out.push({ kind: kind.kind, plural: kind.plural, name: o.metadata.name, project: o.metadata.project! });
  }
  return out;
}

export function hasChanges(plan: StackPlan): boolean {
  return plan.items.some((i) => i.action !== 'unchanged') || plan.prune.length > 0;
}

export function formatPlan(plan: StackPlan): string {
  if (!hasChanges(plan)) return 'No changes.';
  const lines: string[] = [];
  for (const i of plan.items) {
    if (i.action === 'unchanged') continue;
    lines.push(`${i.action === 'create' ? '+' : '~'} ${i.obj.kind.kind}/${i.obj.name}${i.action === 'create' ? ' (create)' : ''}`);
    if (i.action === 'update') for (const c of i.changes) lines.push(`    ${showChange(c)}`);
  }
  for (const p of plan.prune) lines.push(`- ${p.kind}/${p.name} (delete: no longer in the file)`);
  const n = (a: string) => plan.items.filter((i) => i.action === a).length;
  lines.push('', `Plan: ${n('create')} to create, ${n('update')} to change, ${plan.prune.length} to delete.`);
  return lines.join('\n');
}

export interface ApplyOptions {
  source: string;
  parameters: Record<string, string | number | boolean>;
  wait: boolean;
  timeoutMs: number;
}

/** Applies a plan; resolves when everything it touched is healthy, rejects with the reason if not. */
export async function applyPlan(cli: Cli, file: StackFile, plan: StackPlan, opts: ApplyOptions): Promise<void> {
  if (plan.stack) await upsertStack(cli, plan, opts);
  const byObj = new Map(plan.items.map((i) => [i.obj, i]));
  const progress = new Progress(process.stdout);
  const touched: PlanItem[] = [];
  const needed = new Set(file.objects.flatMap((o) => o.dependsOn));
  for (const wave of waves(file.objects)) {
    await inParallel(wave, async (obj) => {
      const item = byObj.get(obj)!;
      if (item.action === 'unchanged') return progress.line(`${obj.kind.kind}/${obj.name}`, 'unchanged');
      const path = pathOf(obj, item.project);
      if (item.action === 'create') await cli.client.request('POST', path.slice(0, path.lastIndexOf('/')), { body: obj.body });
      else await cli.client.request('PUT', path, { body: obj.body });
      touched.push(item);
      progress.line(`${obj.kind.kind}/${obj.name}`, item.action === 'create' ? 'created' : 'configured');
    });
    const gate = wave.filter((o) => needed.has(o.name)).map((o) => byObj.get(o)!);
    if (gate.length > 0 && opts.wait) await waitHealthy(cli, gate, progress, opts.timeoutMs);
  }
  for (const p of plan.prune) {
    await cli.client.request('DELETE', `/v1/projects/${p.project}/${p.plural}/${p.name}`);
    progress.line(`${p.kind}/${p.name}`, 'deleted (pruned)');
  }
  // Rollouts are followed to the end; other objects only when something depends on them.
  if (opts.wait) await waitHealthy(cli, touched.filter((i) => i.obj.kind.kind === 'service'), progress, opts.timeoutMs);
}

async function upsertStack(cli: Cli, plan: StackPlan, opts: ApplyOptions): Promise<void> {
  const body = {
    kind: 'stack',
    metadata: { name: plan.stack!, annotations: { [APPLIED_ANNOTATION]: new Date().toISOString() } },
    spec: { source: opts.source, parameters: withoutSecretValues(opts.parameters, plan), objects: plan.items.map((i) => ({ kind: i.obj.kind.kind, name: i.obj.name })) },
  };
  const path = `/v1/projects/${cli.project}/stacks`;
  // Look first (a read), rather than try an update: a refused update would stand in the audit as a failed action.
  const exists = await cli.client.get(`${path}/${plan.stack}`).then(() => true, (e: unknown) => {
    if (e instanceof ApiError && e.status === 404) return false;
    throw e;
  });
  if (exists) await cli.client.request('PUT', `${path}/${plan.stack}`, { body });
  else await cli.client.request('POST', path, { body });
}

/** The parameters as the stack object records them: those that went into a secret's values are hidden. */
export function withoutSecretValues(parameters: ApplyOptions['parameters'], plan: StackPlan): ApplyOptions['parameters'] {
  const values = plan.items.filter((i) => i.obj.kind.kind === 'secret').flatMap((i) => {
    const spec = i.obj.body.spec as { data?: Record<string, string>; binaryData?: Record<string, string> };
    return [...Object.values(spec.data ?? {}), ...Object.values(spec.binaryData ?? {})];
  });
  return Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, String(v) !== '' && values.some((x) => x.includes(String(v))) ? '(secret)' : v]));
}

/** Runs `fn` over `items`, at most `limit` at a time; rejects with the first error. */
async function inParallel<T>(items: readonly T[], fn: (item: T, index: number) => Promise<void>, limit = 16): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** The current objects of `items`, one list request per kind and project (not one GET each). */
async function snapshot(cli: Cli, items: PlanItem[]): Promise<Map<PlanItem, StoredObject | undefined>> {
  const groups = new Map<string, PlanItem[]>();
  for (const i of items) {
    const key = i.obj.kind.scope === 'cluster' ? `/v1/${i.obj.kind.plural}` : `/v1/projects/${i.project}/${i.obj.kind.plural}`;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  }
  const out = new Map<PlanItem, StoredObject | undefined>();
  for (const [path, group] of groups) {
    const { items: found } = await cli.client.listAll<StoredObject>(path).catch(() => ({ items: [] as StoredObject[] }));
    const byName = new Map(found.map((o) => [o.metadata.name, o]));
    for (const i of group) out.set(i, byName.get(i.obj.name));
  }
  return out;
}

/**
 * Follows the rollout of a service just changed outside a file (`service restart`, `rollback`), as
 * apply does: resolves once it is available, rejects if it fails (rolled back) or times out.
 */
export async function followRollout(cli: Cli, applied: StoredObject, timeoutMs: number): Promise<void> {
  const name = applied.metadata.name;
  const obj: StackObject = { kind: serviceKind, name, body: { kind: 'service', metadata: { name }, spec: applied.spec }, dependsOn: [], where: `service/${name}`, path: (p) => p };
  await waitHealthy(cli, [{ obj, project: applied.metadata.project ?? cli.project, action: 'update', changes: [], desired: applied }], new Progress(process.stdout), timeoutMs);
}

/** Items already seen healthy in this apply (a gate), not waited for again. */
const settled = new WeakSet<PlanItem>();

/** Polls until every item is healthy; throws on a failure (a rolled-back rollout, a failed instance) or the timeout. */
async function waitHealthy(cli: Cli, items: PlanItem[], progress: Progress, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  const pending = new Set(items.filter((i) => !settled.has(i)));
  while (pending.size > 0) {
    const current = await snapshot(cli, [...pending]);
    for (const item of [...pending]) {
      const obj = current.get(item);
      const h: Health = health(item.obj.kind.kind, obj, item.desired);
      progress.line(`${item.obj.kind.kind}/${item.obj.name}`, h.text, h.fraction);
      if (h.state === 'failed') {
        progress.done();
        throw new CliError(`${item.obj.kind.kind}/${item.obj.name} failed: ${h.text}`);
      }
      if (h.state === 'healthy') {
        pending.delete(item);
        settled.add(item);
      }
    }
    if (pending.size === 0) break;
    if (Date.now() > end) {
      progress.done();
      throw new CliError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${[...pending].map((i) => `${i.obj.kind.kind}/${i.obj.name}`).join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  progress.done();
}
