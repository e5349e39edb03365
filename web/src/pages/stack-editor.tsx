/**
 * The stack editor: a name and the YAML (pasted, or read from an uploaded file), "Plan" shows what
 * the server would change as a diff (object by object, field by field), "Apply" writes it (the
 * server's stack apply, as `stratus apply -f`), then the stack's services are followed live until
 * they are available. An apply that stopped before a wave (its dependencies not healthy yet) says
 * so and offers to continue. Problems in the file are shown under the YAML, line by line.
 */
import { useSignal } from '@preact/signals';
import { paths } from '../../../src/client/paths.js';
import type { StackApplyResult, StackPlanJson } from '../../../src/model/stack/plan.js';
import { Badge, ErrorBox, Field } from '../ui/components.js';
import { ApiError } from '../api/client.js';
import { applySummary, editorProblems, NAME_FIELD, planEntries, planSummary, requestProblems, stackRequest, TEXT_FIELD, type PlanEntry } from './stack-plan.js';
import { TextInput, useForm, useScope } from './kit.js';
import { StackProgress, WaitingFor } from './stack-follow.js';

/** The editor for stacks of `project`; `stack` fixes the name (a stack's own page). */
export function StackEditor(props: { project: string; stack?: string }) {
  const { api } = useScope();
  const form = useForm();
  const name = useSignal(props.stack ?? '');
  const text = useSignal('');
  const fileName = useSignal<string | undefined>(undefined);
  const prune = useSignal(false);
  const plan = useSignal<StackPlanJson | undefined>(undefined);
  const result = useSignal<StackApplyResult | undefined>(undefined);
  const applies = useSignal(0);
  const stale = () => { plan.value = undefined; };

  const send = async <T,>(op: 'plan' | 'apply') => {
    const req = stackRequest(name.value.trim(), text.value, fileName.value, prune.value);
    return form.submit(() => requestProblems(name.value.trim(), req), async () => {
      try {
        return await api.request<T>('POST', paths.stack(props.project, name.value.trim(), op), { body: req });
      } catch (e) {
        // A file's problems go under the YAML (each names its file, line and field).
        const placed = editorProblems(e);
        throw placed ? new ApiError((e as ApiError).status, (e as ApiError).code, placed[0]!.message, { problems: placed }) : e;
      }
    });
  };
  const onPlan = async (e: Event) => {
    e.preventDefault();
    result.value = undefined;
    plan.value = await send<StackPlanJson>('plan');
  };
  const onApply = async () => {
    const r = await send<StackApplyResult>('apply');
    if (r) { applies.value++; result.value = r; plan.value = undefined; }
  };
  const upload = async (e: Event) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (!file) return;
    text.value = await file.text();
    fileName.value = file.name;
    if (!name.value) name.value = file.name.replace(/\.[^.]*$/, '').toLowerCase().replace(/[^a-z0-9-]/g, '-');
    stale();
  };
  return (
    <form onSubmit={onPlan} aria-label="Stack editor" class="stack-editor">
      {props.stack ? <p>Applies to stack <strong>{props.stack}</strong> in project {props.project}.</p> : <TextInput form={form} path={NAME_FIELD} label="Stack name" value={name} hint="A DNS label, e.g. shop." />}
      <Field form={form} path={TEXT_FIELD} label="Stack file (YAML)" hint="Paste a stack file, or upload one below.">
        {(a) => <textarea {...a} rows={16} spellcheck={false} class="code" value={text.value} onInput={(e) => { text.value = (e.target as HTMLTextAreaElement).value; fileName.value = undefined; stale(); }} />}
      </Field>
      <div class="actions">
        <label>Upload a file <input type="file" accept=".yaml,.yml,.json,text/yaml,application/json" onChange={(e) => void upload(e)} /></label>
        <label><input type="checkbox" checked={prune.value} onChange={(e) => { prune.value = (e.target as HTMLInputElement).checked; stale(); }} /> Prune: delete the stack's objects the file no longer has</label>
      </div>
      <div class="actions">
        <button type="submit" disabled={form.busy.value}>Plan</button>
        <button type="button" disabled={form.busy.value || !plan.value?.changed} onClick={() => void onApply()}>Apply</button>
      </div>
      <ErrorBox message={form.general.value} />
      {plan.value && <PlanView plan={plan.value} project={props.project} />}
      {result.value && <ApplyView key={applies.value} result={result.value} project={props.project} onContinue={() => void onApply()} />}
    </form>
  );
}

/** The plan as a diff: one block per object, its fields added (+), removed (-) or changed (~). */
export function PlanView(props: { plan: StackPlanJson; project: string }) {
  const entries = planEntries(props.plan, props.project);
  return (
    <section aria-labelledby="plan-title" class="plan">
      <h2 id="plan-title">Plan</h2>
      <p role="status">{planSummary(props.plan)}</p>
      <ul aria-label="Planned changes" class="plan-items">
        {entries.map((e) => <PlanItem key={`${e.action}:${e.ref}`} entry={e} />)}
      </ul>
    </section>
  );
}

function PlanItem(props: { entry: PlanEntry }) {
  const e = props.entry;
  return (
    <li class={`plan-item plan-${e.action}`}>
      <Badge value={e.action} /> <code>{e.ref}</code>{e.wave > 0 ? <span class="hint"> (wave {e.wave})</span> : null}
      {e.lines.length > 0 && (
        <pre class="diff" aria-label={`Changes to ${e.ref}`}>
          {e.lines.map((l, i) => <span key={i} class={`diff-line diff-${l.op === '+' ? 'add' : l.op === '-' ? 'remove' : 'change'}`}>{l.text}{'\n'}</span>)}
        </pre>
      )}
    </li>
  );
}

/**
 * What an apply wrote, then its services followed live. An apply that stopped before a wave is
 * continued by itself once what it waits for is healthy (as `stratus apply` follows it), or by hand.
 */
function ApplyView(props: { result: StackApplyResult; project: string; onContinue: () => void }) {
  const r = props.result;
  return (
    <section aria-labelledby="apply-title">
      <h2 id="apply-title">Applied</h2>
      <p role="status">{applySummary(r)}</p>
      {r.waiting && <WaitingFor waiting={r.waiting} project={props.project} onReady={props.onContinue} />}
      {r.waiting && <button type="button" onClick={props.onContinue}>Continue applying</button>}
      {r.stack && <StackProgress project={props.project} stack={r.stack} complete={r.complete} />}
    </section>
  );
}
