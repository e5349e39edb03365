/**
 * Tokens: the caller's API tokens (live; the API lists only those the caller holds), a form that
 * makes one (name, lifetime, description, optionally narrowed to one role in one project) and
 * shows its secret once, with a copy button and a warning that it cannot be shown again, and a
 * revoke that asks first. Anyone logged in may make a token within their own rights.
 */
import { useSignal } from '@preact/signals';
import type { Page } from '../app/page.js';
import { session } from '../app/session.js';
import { paths } from '../../../src/client/paths.js';
import { tokenKind } from '../../../src/model/kinds/index.js';
import type { Token } from '../../../src/model/kinds/token.js';
import type { IssuedToken, RoleName } from '../../../src/client/routes.js';
import type { FieldProblem } from '../../../src/model/errors.js';
import { ErrorBox, Field } from '../ui/components.js';
import { DataTable, type Column } from '../ui/table.js';
import { age } from '../ui/format.js';
import { mayCreateTokens, mayRevokeToken, tokenProblems, tokenRequest, tokenRights } from './requests.js';
import { ConfirmButton, ListState, TextInput, useForm, useLive, useScope } from './kit.js';

function Tokens() {
  const { api } = useScope();
  const { list, items } = useLive(tokenKind, undefined);
  const cols: Column<Token>[] = [
    { key: 'name', header: 'Name', cell: (t) => t.metadata.name, sortValue: (t) => t.metadata.name },
    { key: 'user', header: 'User', cell: (t) => t.spec.user ?? '(robot)' },
    { key: 'rights', header: 'Rights', cell: tokenRights },
    { key: 'expires', header: 'Expires', cell: (t) => t.spec.expiresAt ?? 'never', sortValue: (t) => t.spec.expiresAt ?? '~' },
    { key: 'used', header: 'Last used', cell: (t) => (t.status?.lastUsedAt ? `${age(t.status.lastUsedAt)} ago` : 'never') },
    { key: 'description', header: 'Description', cell: (t) => t.spec.description ?? '' },
    { key: 'actions', header: 'Actions', cell: (t) => t.metadata.name !== session.whoami.value?.token && mayRevokeToken(session.whoami.value!, t) && (
      <ConfirmButton label={`Revoke token ${t.metadata.name}`} text="Revoke" title={`Revoke ${t.metadata.name}?`} confirm={`Revoke ${t.metadata.name}`}
        question={`Revoke token "${t.metadata.name}"? Whatever uses it is refused from now on.`} action={() => api.request('DELETE', paths.token(t.metadata.name))} />
    ) },
  ];
  return (
    <>
      <section>
        <p class="hint">Your tokens. The one this tab is logged in with ({session.whoami.value?.token}) is revoked from the CLI, not here.</p>
        <ListState list={list} />
        <DataTable label="Tokens" columns={cols} rows={items} rowKey={(t) => t.metadata.name} initialSort={{ key: 'name', dir: 'asc' }} empty="No tokens." />
      </section>
      {mayCreateTokens(session.whoami.value!) ? <CreateToken /> : <p class="hint">This token can make no tokens: a robot token makes robot tokens only in projects it administers.</p>}
    </>
  );
}

function CreateToken() {
  const { api } = useScope();
  const form = useForm();
  const name = useSignal('');
  const expiresIn = useSignal('30d');
  const description = useSignal('');
  const project = useSignal('');
  const role = useSignal<'' | RoleName>('');
  const issued = useSignal<IssuedToken | undefined>(undefined);
  const projects = [...new Set((session.whoami.value?.roles ?? []).map((r) => r.project).concat(session.project.value ? [session.project.value] : []))].sort();
  const submit = async (e: Event) => {
    e.preventDefault();
    issued.value = undefined;
    const req = tokenRequest({ name: name.value, expiresIn: expiresIn.value, description: description.value, project: project.value, role: role.value });
    const who = session.whoami.value!;
    const noRole: FieldProblem[] = project.value && !role.value ? [{ path: 'roles', message: `choose the role the token has in ${project.value}, or "(all your rights)"` }]
      : !req.roles && !who.user && !who.clusterAdmin ? [{ path: 'roles', message: 'a robot token makes robot tokens only: choose a project it administers and a role' }] : [];
    const made = await form.submit(() => [...noRole, ...tokenProblems(req)], () => api.request<IssuedToken>('POST', paths.tokens(), { body: req }));
    if (made) { issued.value = made; name.value = description.value = ''; }
  };
  return (
    <section aria-labelledby="token-new">
      <h2 id="token-new">New token</h2>
      <form onSubmit={submit} aria-label="New token">
        <TextInput form={form} path="name" label="Name" value={name} hint="Empty: a generated name." />
        <TextInput form={form} path="expiresIn" label="Expires in" value={expiresIn} hint="e.g. 12h or 30d; empty: never." />
        <TextInput form={form} path="description" label="Description" value={description} />
        <div class="inline-form">
          <Field form={form} path="roles" label="Only in project" hint="Narrow the token to one role in one project; none: all your rights.">
            {(a) => <select {...a} value={project.value} onChange={(e) => { project.value = (e.target as HTMLSelectElement).value; }}><option value="">(all your rights)</option>{projects.map((p) => <option key={p} value={p}>{p}</option>)}</select>}
          </Field>
          <label>Role <select aria-label="Role in that project" value={role.value} disabled={!project.value} onChange={(e) => { role.value = (e.target as HTMLSelectElement).value as '' | RoleName; }}>
            <option value="">(choose)</option><option value="viewer">viewer</option><option value="member">member</option><option value="admin">admin</option>
          </select></label>
        </div>
        <button type="submit" disabled={form.busy.value}>Create token</button>
        <ErrorBox message={form.general.value} />
      </form>
      {issued.value && <IssuedSecret issued={issued.value} />}
    </section>
  );
}

/** The new token's secret, shown this once. */
function IssuedSecret(props: { issued: IssuedToken }) {
  const copied = useSignal(false);
  const copy = async () => { await navigator.clipboard?.writeText(props.issued.secret); copied.value = true; };
  return (
    <div class="secret-once" role="region" aria-label="New token secret">
      <p role="status"><strong>Token {props.issued.token.metadata.name} created.</strong> Copy its secret now: it is shown only this once and cannot be read again.</p>
      <label for="token-secret">Secret</label>
      <input id="token-secret" type="text" readOnly value={props.issued.secret} onFocus={(e) => (e.target as HTMLInputElement).select()} />
      <div class="actions">
        <button type="button" onClick={() => void copy()}>Copy secret</button>
        {copied.value && <span role="status">Copied.</span>}
      </div>
    </div>
  );
}

export const tokensPage: Page = { path: '/tokens', title: 'Tokens', nav: { label: 'Tokens', section: 'Access', order: 20 }, component: Tokens };
