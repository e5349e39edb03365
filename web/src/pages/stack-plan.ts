/**
 * The stack editor's logic, apart from the page: checking what it would send (the stack kind's
 * name rule; the file itself is read by the server, which names the line of each problem), reading the
 * server's refusal of a file into lines under the editor, and a plan as diff lines. Pure.
 *
 *   name + YAML ─▶ requestProblems ─▶ POST .../stacks/NAME/plan ─▶ planLines (the diff)
 *                                    └▶ refused: editorProblems ("shop.yaml:7: services.web...")
 */
import type { FieldProblem } from '../../../src/model/errors.js';
import { stackKind } from '../../../src/model/kinds/index.js';
import { showChange } from '../../../src/model/stack/diff.js';
// Types only: model/stack/plan.ts reads YAML with Node's module loader, which the browser bundle leaves out.
import type { StackApplyResult, StackPlanJson, StackRequest } from '../../../src/model/stack/plan.js';
import { ApiError } from '../api/client.js';
import { validateObject } from '../ui/form.js';

/** The editor's fields, as form paths: the stack's name and its YAML. */
export const NAME_FIELD = 'metadata.name';
export const TEXT_FIELD = 'files[0].text';

/** The request the editor sends: one file, named after the upload or the stack. */
export function stackRequest(name: string, text: string, fileName?: string, prune = false): StackRequest {
  return { files: [{ name: fileName || `${name || 'stack'}.yaml`, text }], ...(prune ? { prune: true } : {}) };
}

/** Problems found before sending: the name as a stack's name, an empty file. */
export function requestProblems(name: string, req: StackRequest): FieldProblem[] {
  const problems = validateObject(stackKind, { kind: 'stack', metadata: { name }, spec: { objects: [] } }).filter((p) => p.path === NAME_FIELD);
  if (req.files.every((f) => f.text.trim() === '')) problems.push({ path: TEXT_FIELD, message: 'is empty: paste or upload a stack file (YAML)' });
  return problems;
}

/**
 * The server's refusal as problems of the editor: a file's problems (each already says
 * "file:line: field: what") all go under the YAML; anything else stays where its path puts it.
 */
export function editorProblems(e: unknown): FieldProblem[] | undefined {
  if (!(e instanceof ApiError) || e.code !== 'STRATUS_ERR_STACK_INVALID') return undefined;
  const listed = e.details?.['problems'];
  const lines = Array.isArray(listed) && listed.length > 0 ? (listed as { message: string }[]).map((p) => p.message) : [e.message];
  return [{ path: TEXT_FIELD, message: lines.join('\n') }];
}

export interface DiffLine {
  op: '+' | '-' | '~';
  text: string;
}

export interface PlanEntry {
  /** "service/web" (with " in project P" when it goes elsewhere than the stack). */
  ref: string;
  action: 'create' | 'update' | 'unchanged' | 'delete';
  wave: number;
  lines: DiffLine[];
}

/** The plan as the editor shows it: each object with its action and changed fields, then what prune deletes. */
export function planEntries(plan: StackPlanJson, project: string): PlanEntry[] {
  const where = (p?: string) => (p && p !== project ? ` in project ${p}` : '');
  const items: PlanEntry[] = plan.items.map((i) => ({
    ref: `${i.kind}/${i.name}${where(i.project)}`,
    action: i.action,
    wave: i.wave,
    lines: i.action === 'unchanged' ? [] : i.changes.map((c) => ({ op: c.op, text: showChange(c) })),
  }));
  const pruned: PlanEntry[] = plan.prune.map((p) => ({ ref: `${p.kind}/${p.name}${where(p.project)}`, action: 'delete', wave: 0, lines: [] }));
  return [...items, ...pruned];
}

/** One sentence for the plan: "2 to create, 1 to update, 3 unchanged, 1 to delete" or "No changes." */
export function planSummary(plan: StackPlanJson): string {
  if (!plan.changed) return 'No changes.';
  const n = (a: string) => plan.items.filter((i) => i.action === a).length;
  const parts = [[n('create'), 'to create'], [n('update'), 'to update'], [n('unchanged'), 'unchanged'], [plan.prune.length, 'to delete']] as const;
  return parts.filter(([c]) => c > 0).map(([c, w]) => `${c} ${w}`).join(', ');
}

/** What an apply did, in one sentence, and what it waits for when it stopped before a wave. */
export function applySummary(r: StackApplyResult): string {
  if (!r.changed) return 'No changes.';
  const written = r.applied.filter((a) => a.action !== 'unchanged').map((a) => `${a.kind}/${a.name} ${a.action}`);
  const pruned = r.pruned.map((p) => `${p.kind}/${p.name} deleted`);
  const done = [...written, ...pruned].join(', ') || 'nothing written';
  if (!r.waiting) return `Applied: ${done}.`;
  const waits = r.waiting.for.map((w) => `${w.kind}/${w.name} (${w.health})`).join(', ');
  return `Applied so far: ${done}. Waiting for ${waits} before writing ${r.waiting.remaining.map((x) => `${x.kind}/${x.name}`).join(', ')}: apply again once it is healthy.`;
}
