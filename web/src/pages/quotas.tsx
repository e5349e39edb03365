/**
 * Quotas: each project's usage against its limits as bars (the selected project, or every project
 * the caller reads), live from the project objects; cluster admins change the limits in a form
 * validated by the project kind's schema ("4x" is refused beside the CPU field, in the API's words).
 */
import { useSignal } from '@preact/signals';
import type { Page } from '../app/page.js';
import { isClusterAdmin } from '../app/session.js';
import { projectKind } from '../../../src/model/kinds/index.js';
import { QUOTAS, type Project } from '../../../src/model/kinds/project.js';
import type { QuotaName } from '../../../src/model/kind.js';
import { ErrorBox, Field, Link, Meter } from '../ui/components.js';
import { itemPath } from '../../../src/client/paths.js';
import { validateObject } from '../ui/form.js';
import { quotaDraft, quotaRows, quotasFromDraft } from './quota-rows.js';
import { ListState, useForm, useLive, useScope } from './kit.js';

/** The project's quotas as bars: used of limit; an unlimited quota shows its usage only. */
export function QuotaBars(props: { project: Project }) {
  const p = props.project.metadata.name;
  return (
    <table aria-label={`Quotas of ${p}`} class="quota-table">
      <thead><tr><th scope="col">Resource</th><th scope="col">Used of limit</th><th scope="col">Usage</th></tr></thead>
      <tbody>
        {quotaRows(props.project).map((r) => (
          <tr key={r.name}>
            <th scope="row">{r.name}</th>
            <td>{r.text}</td>
            <td>{r.limit !== undefined ? <Meter label={`${p} ${r.name} quota`} value={r.used} max={r.limit} text={r.text} /> : <span class="hint">unlimited</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Cluster admins: the project's limits, empty = unlimited. */
export function QuotaForm(props: { project: Project }) {
  const { api } = useScope();
  const form = useForm();
  const draft = useSignal(quotaDraft(props.project));
  const done = useSignal<string | undefined>(undefined);
  const p = props.project;
  const name = p.metadata.name;
  const submit = async (e: Event) => {
    e.preventDefault();
    done.value = undefined;
    const spec = { ...p.spec, quotas: quotasFromDraft(draft.value) };
    const body = { kind: 'project', metadata: { name, revision: p.metadata.revision, labels: p.metadata.labels, annotations: p.metadata.annotations }, spec };
    // A PUT of the whole spec (a merge patch could not remove a limit: an emptied field), guarded by the revision.
    const ok = await form.submit(() => validateObject(projectKind, body), () => api.request('PUT', itemPath(projectKind, name), { body }));
    if (ok) done.value = `Quotas of ${name} saved.`;
  };
  return (
    <form onSubmit={submit} aria-label={`Quotas of project ${name}`} class="quota-form inline-form">
      {QUOTAS.map(({ name: q }) => (
        <Field key={q} form={form} path={`spec.quotas.${q}`} label={`${q} limit`} hint={HINTS[q]}>
          {(a) => <input {...a} type="text" value={draft.value[q]} onInput={(e) => { draft.value = { ...draft.value, [q]: (e.target as HTMLInputElement).value }; }} />}
        </Field>
      ))}
      <button type="submit" disabled={form.busy.value}>Save quotas</button>
      <ErrorBox message={form.general.value} />
      {done.value && <p role="status">{done.value}</p>}
    </form>
  );
}

const HINTS: Record<QuotaName, string> = {
  cpu: 'e.g. 4 or 500m; empty: unlimited',
  memory: 'e.g. 8Gi; empty: unlimited',
  disk: 'e.g. 100Gi; empty: unlimited',
  gpu: 'e.g. 2 or 500m (half a GPU); empty: unlimited',
  instances: 'a count; empty: unlimited',
  volumes: 'a count; empty: unlimited',
  storage: 'e.g. 500Gi; empty: unlimited',
};

function Quotas() {
  const { project } = useScope();
  const { list, items } = useLive(projectKind, undefined);
  const shown = items.filter((p) => !project || p.metadata.name === project).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  return (
    <section>
      <p class="hint">{project ? <>Quotas of project <strong>{project}</strong>.</> : 'Quotas of every project you can read.'} Usage counts what the project's objects reserve.</p>
      <ListState list={list} />
      {shown.map((p) => (
        <section key={p.metadata.name} aria-labelledby={`quota-${p.metadata.name}`}>
          <h2 id={`quota-${p.metadata.name}`}><Link to={`/projects/${encodeURIComponent(p.metadata.name)}`}>{p.metadata.name}</Link></h2>
          <QuotaBars project={p} />
          {isClusterAdmin() && project && <QuotaForm project={p} />}
        </section>
      ))}
      {!list.loading.value && shown.length === 0 && <p>No projects to show.</p>}
    </section>
  );
}

export const quotasPage: Page = { path: '/quotas', title: 'Quotas', nav: { label: 'Quotas', section: 'Access', order: 30 }, component: Quotas };
