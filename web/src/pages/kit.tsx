/**
 * Building blocks the resource pages share (services, stacks, networks, security groups, projects,
 * tokens, quotas, events): the scope a list page shows, live lists read in one line, a text field
 * bound to a signal, and a delete button that asks first. Write controls are only rendered for
 * callers whose role allows the write (`can`), so a viewer sees no button that would fail.
 */
import type { ComponentChildren } from 'preact';
import { useSignal, type Signal } from '@preact/signals';
import { useState } from 'preact/hooks';
import type { Kind, KindOf, StoredObject } from '../../../src/model/kind.js';
import { useWatchList, type WatchList } from '../api/watch-list.js';
import type { Api } from '../api/client.js';
import { session } from '../app/session.js';
import { Confirm, ErrorBox, Field } from '../ui/components.js';
import { createForm, problemsOfError, validateObject } from '../ui/form.js';
import { DataTable, type Column } from '../ui/table.js';
import './pages.css';

/** The API client and the project the switcher selects (undefined: every project the caller reads). */
export function useScope(): { api: Api; project: string | undefined } {
  return { api: session.api.value!, project: session.project.value || undefined };
}

/**
 * The live objects of `kind` in `project` (undefined: every project), re-rendering the component
 * when they change; `list` says whether it is loading or failed.
 */
export function useLive<T extends StoredObject>(kind: KindOf<T>, project: string | undefined, selector?: string): { list: WatchList<T>; items: T[] } {
  const list = useWatchList<T>(session.api.value!, kind, project, selector);
  void list.version.value; // subscribe: a change re-renders the caller
  return { list, items: list.values() };
}

/** The dashboard path of one object's page: /projects/P/<plural>/NAME (cluster kinds: /<plural>/NAME). */
export function objectPath(kind: Kind, o: { metadata: { name: string; project?: string } }): string {
  const name = encodeURIComponent(o.metadata.name);
  return kind.scope === 'project' ? `/projects/${encodeURIComponent(o.metadata.project ?? '')}/${kind.plural}/${name}` : `/${kind.plural}/${name}`;
}

/** A sentence for a live list that is loading or failed; nothing once it is fine. */
export function ListState<T extends StoredObject>(props: { list: WatchList<T> }) {
  const l = props.list;
  if (l.error.value) return <p role="alert" class="error-box">{l.error.value}</p>;
  if (l.loading.value) return <p role="status">Loading…</p>;
  return null;
}

/** Where a list page says which project it shows, and that writes need one chosen. */
export function ScopeNote(props: { project: string | undefined; what: string }) {
  return props.project
    ? <p class="hint">{props.what} of project <strong>{props.project}</strong>.</p>
    : <p class="hint">{props.what} of every project you can read. Choose a project in the switcher to create or change them.</p>;
}

/** A form's state for a component's lifetime. */
export function useForm(): ReturnType<typeof createForm> {
  return useState(createForm)[0];
}

/** A text input for `path` of `form`, bound to `value`. */
export function TextInput(props: { form: ReturnType<typeof createForm>; path: string; label: string; value: Signal<string>; hint?: string; numeric?: boolean; placeholder?: string; required?: boolean }) {
  return (
    <Field form={props.form} path={props.path} label={props.label} hint={props.hint}>
      {(a) => (
        <input {...a} type="text" inputMode={props.numeric ? 'numeric' : undefined} value={props.value.value} placeholder={props.placeholder} required={props.required} spellcheck={false} autocomplete="off"
          onInput={(e) => { props.value.value = (e.target as HTMLInputElement).value; }} />
      )}
    </Field>
  );
}

/**
 * A button that asks before running `action` (a delete, a rollback...); the API's refusal is shown
 * beside it. `label` is the button's accessible name ("Delete network web"). The dialog exists
 * only while open, so a page with many such buttons holds one dialog (and one dialog title id).
 */
export function ConfirmButton(props: { label: string; text?: ComponentChildren; title: string; question: string; confirm: string; action: () => Promise<unknown>; danger?: boolean; onDone?: () => void }) {
  const open = useSignal(false);
  const error = useSignal<string | undefined>(undefined);
  const busy = useSignal(false);
  const run = async () => {
    open.value = false;
    busy.value = true;
    try {
      await props.action();
      error.value = undefined;
      props.onDone?.();
    } catch (e) {
      error.value = problemsOfError(e).map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; ');
    } finally {
      busy.value = false;
    }
  };
  return (
    <span class="confirm-action">
      <button type="button" class={props.danger === false ? undefined : 'danger'} aria-label={props.label} disabled={busy.value} onClick={() => { open.value = true; }}>{props.text ?? props.label}</button>
      {open.value && <Confirm open title={props.title} question={props.question} action={props.confirm} onConfirm={() => void run()} onCancel={() => { open.value = false; }} />}
      <ErrorBox message={error.value} />
    </span>
  );
}

/** "Delete <kind> <name>" with a confirmation naming what goes with it. */
export function DeleteButton(props: { api: Api; kind: KindOf<StoredObject>; obj: StoredObject; consequence?: string; onDone?: () => void }) {
  const { kind, obj } = props;
  const what = `${kind.kind} ${obj.metadata.name}`;
  return (
    <ConfirmButton label={`Delete ${what}`} text="Delete" title={`Delete ${what}?`} confirm={`Delete ${what}`}
      question={`Delete ${kind.kind} "${obj.metadata.name}"${obj.metadata.project ? ` of project ${obj.metadata.project}` : ''}? ${props.consequence ?? 'This cannot be undone.'}`}
      action={() => props.api.resources(kind, obj.metadata.project).delete(obj.metadata.name)} onDone={props.onDone} />
  );
}

/**
 * How far something has got (a rollout: available of desired), as role=progressbar named `label`
 * with its numbers in words; full is good news (green), unlike a Meter's usage colours.
 */
export function Progress(props: { label: string; value: number; max: number; text: string }) {
  const pct = props.max > 0 ? Math.min(100, (props.value / props.max) * 100) : 100;
  return (
    <div class="progress" role="progressbar" aria-label={props.label} aria-valuemin={0} aria-valuemax={props.max} aria-valuenow={Math.min(props.value, props.max)} aria-valuetext={props.text} title={props.text}>
      <div class={`progress-fill${pct >= 100 ? ' done' : ''}`} style={{ width: `${pct}%` }} />
    </div>
  );
}

/** The "Project" column of a list that shows every project the caller reads. */
export function projectColumn<T extends StoredObject>(): Column<T> {
  return { key: 'project', header: 'Project', cell: (o) => o.metadata.project ?? '', sortValue: (o) => o.metadata.project ?? '' };
}

/**
 * A project kind's live list as a table: which project it shows, loading or failure, the rows
 * sorted by name (with a Project column when every project is shown). `columns` are the kind's own.
 */
export function LiveTable<T extends StoredObject>(props: { kind: KindOf<T>; label: string; columns: Column<T>[]; empty: string }) {
  const { project } = useScope();
  const { list, items } = useLive(props.kind, project);
  const [first, ...rest] = props.columns;
  const columns = project || !first ? props.columns : [first, projectColumn<T>(), ...rest];
  return (
    <section>
      <ScopeNote project={project} what={props.label} />
      <ListState list={list} />
      <DataTable label={props.label} columns={columns} rows={items} rowKey={(o) => `${o.metadata.project}/${o.metadata.name}`} initialSort={{ key: 'name', dir: 'asc' }} empty={props.empty} />
    </section>
  );
}

/**
 * A form that creates one object of `kind` (in `project` for project kinds): `body()` builds it
 * from the caller's fields (children get the form to bind them to), the kind's checks run first,
 * the API's refusal lands beside its fields; on success it says "<noun> NAME created." and calls
 * `onCreated` (the caller clears its fields).
 */
export function CreateForm<T extends StoredObject>(props: { kind: KindOf<T>; project?: string; label: string; noun: string; submit: string; body: () => { kind: string; metadata: { name: string }; spec: unknown }; onCreated?: (o: T) => void; children: (form: ReturnType<typeof createForm>) => ComponentChildren }) {
  const { api } = useScope();
  const form = useForm();
  const done = useSignal<string | undefined>(undefined);
  const submit = async (e: Event) => {
    e.preventDefault();
    done.value = undefined;
    const body = props.body();
    const made = await form.submit(() => validateObject(props.kind, body), () => api.resources(props.kind, props.project).create(body));
    if (made) {
      done.value = `${props.noun} ${made.metadata.name} created.`;
      props.onCreated?.(made);
    }
  };
  return (
    <form onSubmit={submit} aria-label={props.label}>
      {props.children(form)}
      <button type="submit" disabled={form.busy.value}>{props.submit}</button>
      <ErrorBox message={form.general.value} />
      {done.value && <p role="status">{done.value}</p>}
    </form>
  );
}
