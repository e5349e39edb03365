/**
 * Shared building blocks of the pages: links inside the app, a form field that shows its
 * problem, alerts, usage meters, a confirmation dialog and status badges. Each has an accessible
 * name (web/README.md lists the ones tests rely on).
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { href } from '../app/router.js';
import type { createForm } from './form.js';

export function Link(props: { to: string; children: ComponentChildren; class?: string; title?: string; 'aria-current'?: 'page'; 'aria-label'?: string }) {
  const { to, children, ...rest } = props;
  return <a href={href(to)} {...rest}>{children}</a>;
}

/** An alert with a message (role=alert: read out when it appears); nothing when there is none. */
export function ErrorBox(props: { message: string | undefined }) {
  if (!props.message) return null;
  return <p role="alert" class="error-box">{props.message}</p>;
}

let fieldIds = 0;

/**
 * A labelled form field whose input is `children(id, describedBy, invalid)`; the problem the form
 * holds for `path` is shown under it, tied to the input by aria-describedby.
 */
export function Field(props: { form: ReturnType<typeof createForm>; path: string; label: string; hint?: string; children: (a: { id: string; 'aria-describedby': string; 'aria-invalid': boolean; name: string }) => ComponentChildren }) {
  const id = useRef(`f${++fieldIds}`).current;
  props.form.register(props.path);
  const problem = props.form.fields.value[props.path];
  return (
    <div class={`field${problem ? ' invalid' : ''}`}>
      <label for={id}>{props.label}</label>
      {props.children({ id, 'aria-describedby': `${id}-msg`, 'aria-invalid': Boolean(problem), name: props.path })}
      <p id={`${id}-msg`} class={problem ? 'field-error' : 'hint'}>{problem ?? props.hint ?? ''}</p>
    </div>
  );
}

/**
 * A bar of `value` out of `max` with its numbers in words (role=meter); `used` draws a second
 * mark (measured use beside the allocation).
 */
export function Meter(props: { label: string; value: number; max: number; text: string; used?: number }) {
  const pct = props.max > 0 ? Math.min(100, (props.value / props.max) * 100) : 0;
  const usedPct = props.used !== undefined && props.max > 0 ? Math.min(100, (props.used / props.max) * 100) : undefined;
  const level = pct >= 90 ? 'high' : pct >= 70 ? 'mid' : 'low';
  return (
    <div class="meter" role="meter" aria-label={props.label} aria-valuemin={0} aria-valuemax={props.max} aria-valuenow={props.value} aria-valuetext={props.text} title={props.text}>
      <div class={`meter-fill ${level}`} style={{ width: `${pct}%` }} />
      {usedPct !== undefined && <div class="meter-used" style={{ width: `${usedPct}%` }} />}
    </div>
  );
}

/** A modal dialog asking to confirm `question`; `onConfirm` runs when the button named `action` is pressed. */
export function Confirm(props: { open: boolean; title: string; question: string; action: string; onConfirm: () => void; onCancel: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog ref={ref} aria-labelledby="confirm-title" onCancel={(e) => { e.preventDefault(); props.onCancel(); }}>
      <h2 id="confirm-title">{props.title}</h2>
      <p>{props.question}</p>
      <div class="actions">
        <button type="button" onClick={props.onCancel}>Cancel</button>
        <button type="button" class="danger" onClick={props.onConfirm}>{props.action}</button>
      </div>
    </dialog>
  );
}

/** A phase or state as a coloured badge (the word is the content: colour is never the only cue). */
export function Badge(props: { value: string }) {
  return <span class={`badge badge-${props.value.toLowerCase()}`}>{props.value}</span>;
}

/** Key/value rows (a <dl>). */
export function Facts(props: { rows: [string, ComponentChildren][] }) {
  return (
    <dl class="facts">
      {props.rows.filter(([, v]) => v !== undefined && v !== '' && v !== null).map(([k, v]) => [<dt key={`${k}-t`}>{k}</dt>, <dd key={`${k}-d`}>{v}</dd>])}
    </dl>
  );
}
