/**
 * `stratus plan` and `apply -f`: the server reads, validates, plans and applies the files
 * (src/api/routes/stacks.ts); the CLI sends them and shows the answer:
 *
 *   plan:  the plan, object by object and field by field; nothing changes.
 *   apply: the server writes wave by wave; where a wave depends on something not healthy yet, it
 *          stops and says so: the CLI follows that until it is healthy and asks again (the
 *          server continues). Then it follows every rollout until done, and fails with the
 *          reason if one fails.
 */
import type { Cli } from '../context.js';
import { ApiError, CliError } from '../errors.js';
import { readInput } from '../manifest.js';
import type { StoredObject } from '../../model/kind.js';
import { findKind } from '../../model/kinds/index.js';
import { showChange } from '../../model/stack/diff.js';
import { hasChanges, STDIN, unknownParameters, type ObjectRef, type StackPlanJson, type StackRequest } from '../../model/stack/plan.js';
import { applyStack, planStack } from '../../client/routes.js';
import { Progress } from './progress.js';
import { waitHealthy, type Followed } from './follow.js';

export interface FileOpts { filename: string[]; set?: string[]; stack?: string; prune?: boolean }

/** What the files and flags ask the server; `stack` is --stack (else the server takes the files' name:). */
export function stackRequest(o: FileOpts): { body: StackRequest; stack?: string } {
  const set: Record<string, string> = {};
  for (const s of o.set ?? []) {
    const i = s.indexOf('=');
    if (i <= 0) throw new CliError(`--set ${s}: use key=value`, 2);
    set[s.slice(0, i)] = s.slice(i + 1);
  }
  const files = o.filename.map((f) => ({ name: f === '-' ? STDIN : f, text: readInput(f) }));
  return { body: { files, set, prune: Boolean(o.prune) }, ...(o.stack ? { stack: o.stack } : {}) };
}

/** A refused file reads as the CLI always printed it: the server's message, and --set for parameters. */
async function fileErrors<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (e) {
    if (!(e instanceof ApiError) || e.code !== 'STRATUS_ERR_STACK_INVALID') throw e;
    const d = e.details as { unknownParameters?: string[]; declared?: string[]; files?: string[] } | undefined;
    if (d?.unknownParameters) throw new CliError(unknownParameters('--set', d.unknownParameters, d.files ?? [], d.declared ?? []), 2);
    throw new CliError(e.message);
  }
}

export function planFiles(cli: Cli, o: FileOpts): Promise<StackPlanJson> {
  const { body, stack } = stackRequest(o);
  return fileErrors(planStack(cli.client, cli.project, stack, body));
}

export function formatPlan(plan: StackPlanJson): string {
  if (!hasChanges(plan)) return 'No changes.';
  const lines: string[] = [];
  for (const i of plan.items) {
    if (i.action === 'unchanged') continue;
    lines.push(`${i.action === 'create' ? '+' : '~'} ${i.kind}/${i.name}${i.action === 'create' ? ' (create)' : ''}`);
    if (i.action === 'update') for (const c of i.changes) lines.push(`    ${showChange(c)}`);
  }
  for (const p of plan.prune) lines.push(`- ${p.kind}/${p.name} (delete: no longer in the file)`);
  const n = (a: string) => plan.items.filter((i) => i.action === a).length;
  lines.push('', `Plan: ${n('create')} to create, ${n('update')} to change, ${plan.prune.length} to delete.`);
  return lines.join('\n');
}

export interface ApplyOptions {
  wait: boolean;
  timeoutMs: number;
}

/**
 * Applies the files: prints each object as the server writes it, follows what a wave waits for
 * and asks the server to continue, then follows the rollouts. Resolves with the stack's name and
 * whether anything changed ("No changes."); rejects with the reason if something failed.
 */
export async function applyFiles(cli: Cli, o: FileOpts, opts: ApplyOptions): Promise<{ stack?: string; changed: boolean }> {
  const { body, stack } = stackRequest(o);
  const request = { ...body, waitForDependencies: opts.wait };
  const progress = new Progress(process.stdout);
  const desired = new Map<string, StoredObject>();
  const reported = new Set<string>();
  const touched: Followed[] = [];
  const settled = new Set<string>();
  const end = Date.now() + opts.timeoutMs;
  for (;;) {
    const res = await fileErrors(applyStack(cli.client, cli.project, stack, request));
    if (!res.changed && reported.size === 0) return { changed: false };
    for (const i of res.plan.items) desired.set(keyOf(i), i.desired as StoredObject);
    let progressed = false;
    for (const a of res.applied) {
      if (reported.has(keyOf(a))) continue;
      reported.add(keyOf(a));
      progressed = true;
      progress.line(`${a.kind}/${a.name}`, a.action);
      if (a.action !== 'unchanged') touched.push(followed(a, cli, desired));
    }
    if (!res.waiting) {
      for (const p of res.pruned) progress.line(`${p.kind}/${p.name}`, 'deleted (pruned)');
      // Rollouts are followed to the end; other objects only when something depends on them.
      if (opts.wait) await waitHealthy(cli, touched.filter((i) => i.kind.kind === 'service'), progress, opts.timeoutMs, settled);
      return { ...(res.stack ? { stack: res.stack } : {}), changed: true };
    }
    await waitHealthy(cli, res.waiting.for.map((w) => followed(w, cli, desired)), progress, opts.timeoutMs, settled);
    if (progressed) continue;
    // Healthy as read here, not yet as the server read it: ask again shortly, within the timeout.
    if (Date.now() > end) throw new CliError(`timed out after ${Math.round(opts.timeoutMs / 1000)} s: the server still waits for ${res.waiting.for.map((w) => `${w.kind}/${w.name} (${w.health})`).join(', ')}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const keyOf = (r: ObjectRef) => `${r.kind}/${r.project ?? ''}/${r.name}`;

function followed(r: ObjectRef, cli: Cli, desired: Map<string, StoredObject>): Followed {
  return { kind: findKind(r.kind)!, name: r.name, project: r.project ?? cli.project, desired: desired.get(keyOf(r)) };
}
