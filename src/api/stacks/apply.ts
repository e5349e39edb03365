/**
 * Applying a planned stack, as the caller (loopback.ts):
 *
 *   the stack object (source, parameters with secrets' values hidden, what it owns, applied-at)
 *   wave 0, wave 1, ... (dependsOn order; each wave's objects written together)
 *     └─ before the next wave, what later waves depend on must be healthy (model/stack/health.ts):
 *        when it is not yet, stop and say so (`waiting`); applying the same files again continues
 *   prune: the stack's objects the files no longer have
 *
 * It never waits: a request returns once it has written what it may. Following rollouts is the
 * caller's (the CLI watches them).
 */
import { StratusError } from '../../model/errors.js';
import type { StoredObject } from '../../model/kind.js';
import { findKind, stackKind } from '../../model/kinds/index.js';
import { APPLIED_ANNOTATION } from '../../model/kinds/stack.js';
import { health } from '../../model/stack/health.js';
import { withoutSecretValues, type Applied, type LoadedStack, type StackApplyResult } from '../../model/stack/plan.js';
import type { ObjectApi } from './loopback.js';
import { inParallel, planJson, refOf, type PlanItem, type StackPlan } from './plan.js';

export interface ApplyOptions {
  project: string;
  dryRun: boolean;
  /** Write a wave only once what it depends on is healthy (else stop there). */
  waitForDependencies: boolean;
  /** Now, for the stack's applied-at annotation. */
  now: string;
}

const DONE: Record<PlanItem['action'], Applied['action']> = { create: 'created', update: 'configured', unchanged: 'unchanged' };

export async function applyStack(api: ObjectApi, loaded: LoadedStack, plan: StackPlan, opts: ApplyOptions): Promise<StackApplyResult> {
  const result: StackApplyResult = { ...(plan.stack ? { stack: plan.stack } : {}), dryRun: opts.dryRun, changed: false, complete: true, plan: planJson(plan), applied: [], pruned: [] };
  result.changed = result.plan.changed;
  if (!result.changed) return result;
  if (opts.dryRun) {
    result.applied = plan.waves.flat().map((i) => ({ ...refOf(i), action: DONE[i.action], object: i.desired }));
    result.pruned = plan.prune.map((p) => ({ ...p, action: 'deleted (pruned)' }));
    return result;
  }
  if (plan.stack) await upsertStack(api, loaded, plan.stack, opts);
  const needed = new Set(plan.items.flatMap((i) => i.obj.dependsOn));
  for (const [n, wave] of plan.waves.entries()) {
    result.applied.push(...(await writeWave(api, wave, result.applied)));
    const gate = wave.filter((i) => needed.has(i.obj.name));
    if (gate.length === 0 || !opts.waitForDependencies || n === plan.waves.length - 1) continue;
    const states = await Promise.all(gate.map(async (i) => ({ ...refOf(i), ...health(i.obj.kind.kind, await api.get(i.obj.kind, i.obj.name, i.project), i.desired) })));
    if (states.every((s) => s.state === 'healthy')) continue;
    result.complete = false;
    result.waiting = { for: states.map(({ fraction: _f, text, ...s }) => ({ ...s, health: text })), remaining: plan.waves.slice(n + 1).flat().map(refOf) };
    return result;
  }
  for (const p of plan.prune) {
    await api.remove(findKind(p.kind)!, p.name, p.project!);
    result.pruned.push({ ...p, action: 'deleted (pruned)' });
  }
  return result;
}

/** Writes one wave's objects together; answers in file order. A refused write names its object and what was written before it. */
async function writeWave(api: ObjectApi, wave: PlanItem[], before: Applied[]): Promise<Applied[]> {
  const out: Applied[] = [];
  await inParallel(wave, async (i, index) => {
    if (i.action === 'unchanged') {
      out[index] = { ...refOf(i), action: 'unchanged' };
      return;
    }
    try {
      const object = await api.write(i.action === 'create' ? 'POST' : 'PUT', i.obj.kind, i.obj.name, i.project, i.obj.body, false);
      out[index] = { ...refOf(i), action: DONE[i.action], object };
    } catch (e) {
      if (!(e instanceof StratusError)) throw e;
      const written = [...before, ...out.filter((a) => a && a.action !== 'unchanged')].map((a) => `${a.kind}/${a.name}`);
      throw new StratusError(e.code, `${i.obj.kind.kind}/${i.obj.name}: ${e.message}${written.length ? ` (already written: ${written.join(', ')})` : ''}`, { ...e.details, written });
    }
  });
  return out;
}

/** Creates or replaces the stack object: its source, parameters, what it owns, when it was applied. */
async function upsertStack(api: ObjectApi, loaded: LoadedStack, name: string, opts: ApplyOptions): Promise<StoredObject> {
  const body = {
    kind: 'stack',
    metadata: { name, annotations: { [APPLIED_ANNOTATION]: opts.now } },
    spec: { source: loaded.source, parameters: withoutSecretValues(loaded.file.parameters, loaded.file), objects: loaded.file.objects.map((o) => ({ kind: o.kind.kind, name: o.name })) },
  };
  // Look first (a read), rather than try an update: a refused update would stand in the audit as a failed action.
  const exists = await api.get(stackKind, name, opts.project);
  return api.write(exists ? 'PUT' : 'POST', stackKind, name, opts.project, body, false);
}
