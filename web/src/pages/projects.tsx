/**
 * Projects and members: the projects the caller reads (live), and a project's page: its quotas as
 * bars, its members and their roles. Project admins add members, change a role and remove one;
 * cluster admins create and delete projects and set quotas. Nobody sees a control their role
 * would be refused.
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import type { Page, PageProps } from '../app/page.js';
import { can, isClusterAdmin, roleIn } from '../app/session.js';
import { navigate } from '../app/router.js';
import { paths, itemPath } from '../../../src/client/paths.js';
import { ApiError } from '../api/client.js';
import { projectKind, userKind } from '../../../src/model/kinds/index.js';
import type { Project } from '../../../src/model/kinds/project.js';
import type { Member, RoleName } from '../../../src/client/routes.js';
import { Badge, ErrorBox, Facts, Field, Link } from '../ui/components.js';
import { DataTable, type Column } from '../ui/table.js';
import { validateObject } from '../ui/form.js';
import { age } from '../ui/format.js';
import { ConfirmButton, CreateForm, ListState, TextInput, useForm, useLive, useScope } from './kit.js';
import { QuotaBars, QuotaForm } from './quotas.js';
import { quotaRows } from './quota-rows.js';

const ROLES: RoleName[] = ['viewer', 'member', 'admin'];

const columns: Column<Project>[] = [
  { key: 'name', header: 'Name', cell: (p) => <Link to={`/projects/${encodeURIComponent(p.metadata.name)}`}>{p.metadata.name}</Link>, sortValue: (p) => p.metadata.name },
  { key: 'display', header: 'Display name', cell: (p) => p.spec.displayName ?? '' },
  { key: 'role', header: 'Your role', cell: (p) => roleIn(p.metadata.name) ?? '' },
  { key: 'phase', header: 'Phase', cell: (p) => <Badge value={p.status?.phase ?? 'Active'} /> },
  { key: 'quotas', header: 'Quotas', cell: (p) => quotaRows(p).filter((r) => r.limit !== undefined).map((r) => `${r.name} ${r.text}`).join('; ') || 'unlimited' },
  { key: 'age', header: 'Age', cell: (p) => age(p.metadata.createdAt), sortValue: (p) => p.metadata.createdAt },
];

function Projects() {
  const { list, items } = useLive(projectKind, undefined);
  return (
    <>
      <section>
        <ListState list={list} />
        <DataTable label="Projects" columns={columns} rows={items} rowKey={(p) => p.metadata.name} initialSort={{ key: 'name', dir: 'asc' }} empty="You are not a member of any project." />
      </section>
      {isClusterAdmin() && <CreateProject />}
    </>
  );
}

function CreateProject() {
  const name = useSignal('');
  const displayName = useSignal('');
  const body = () => ({ kind: 'project', metadata: { name: name.value.trim() }, spec: { ...(displayName.value.trim() ? { displayName: displayName.value.trim() } : {}) } });
  return (
    <section aria-labelledby="project-new">
      <h2 id="project-new">New project</h2>
      <CreateForm kind={projectKind} label="New project" noun="Project" submit="Create project" body={body} onCreated={() => { name.value = displayName.value = ''; }}>
        {(form) => (
          <>
            <TextInput form={form} path="metadata.name" label="Name" value={name} hint="A DNS label, e.g. shop." />
            <TextInput form={form} path="spec.displayName" label="Display name" value={displayName} />
          </>
        )}
      </CreateForm>
    </section>
  );
}

function ProjectView(props: PageProps) {
  const name = props.params['name']!;
  const { api } = useScope();
  const { list, items } = useLive(projectKind, undefined);
  const p = items.find((x) => x.metadata.name === name);
  if (!p) return list.loading.value || list.error.value ? <ListState list={list} /> : <p role="alert">No project "{name}" that you can read.</p>;
  return (
    <>
      <section aria-labelledby="project-about">
        <h2 id="project-about">About</h2>
        <Facts rows={[['Display name', p.spec.displayName], ['Description', p.spec.description], ['Phase', <Badge value={p.status?.phase ?? 'Active'} />], ['Your role', isClusterAdmin() ? 'cluster admin' : roleIn(name)]]} />
        {isClusterAdmin() && (
          <ConfirmButton label={`Delete project ${name}`} text="Delete project" title={`Delete project ${name}?`} confirm={`Delete project ${name}`}
            question={`Delete project "${name}" and everything in it (instances, services, networks, volumes, secrets)? This cannot be undone.`}
            action={() => api.request('DELETE', itemPath(projectKind, name), { query: { cascade: true } })} onDone={() => navigate('/projects')} />
        )}
      </section>
      <section aria-labelledby="project-quotas">
        <h2 id="project-quotas">Quotas</h2>
        <QuotaBars project={p} />
        {isClusterAdmin() && <QuotaForm project={p} />}
      </section>
      <Members project={name} />
    </>
  );
}

function Members(props: { project: string }) {
  const { api } = useScope();
  const members = useSignal<Member[] | undefined>(undefined);
  const error = useSignal<string | undefined>(undefined);
  const load = async () => {
    try {
      members.value = (await api.request<{ items: Member[] }>('GET', paths.members(props.project))).items;
    } catch (e) {
      error.value = (e as Error).message;
    }
  };
  useEffect(() => { void load(); }, [props.project]);
  const admin = can('admin', props.project);
  const cols: Column<Member>[] = [
    { key: 'user', header: 'User', cell: (m) => m.user, sortValue: (m) => m.user },
    { key: 'role', header: 'Role', cell: (m) => (admin ? <RoleSelect project={props.project} member={m} onDone={load} /> : m.role), sortValue: (m) => m.role },
    ...(admin ? [{
      key: 'remove', header: 'Actions', cell: (m: Member) => (
        <ConfirmButton label={`Remove ${m.user} from ${props.project}`} text="Remove" title={`Remove ${m.user}?`} confirm={`Remove ${m.user}`}
          question={`Remove ${m.user} from project ${props.project}? Their tokens lose its rights.`}
          action={() => api.request('DELETE', paths.member(props.project, m.user))} onDone={() => void load()} />
      ),
    }] : []),
  ];
  return (
    <section aria-labelledby="project-members">
      <h2 id="project-members">Members</h2>
      <ErrorBox message={error.value} />
      {!members.value && !error.value && <p role="status">Loading…</p>}
      {members.value && <DataTable label={`Members of ${props.project}`} columns={cols} rows={members.value} rowKey={(m) => m.user} initialSort={{ key: 'user', dir: 'asc' }} empty="No members." />}
      {admin && <AddMember project={props.project} onDone={load} />}
    </section>
  );
}

function RoleSelect(props: { project: string; member: Member; onDone: () => Promise<void> }) {
  const { api } = useScope();
  const error = useSignal<string | undefined>(undefined);
  const change = async (role: string) => {
    try {
      await api.request('PUT', paths.member(props.project, props.member.user), { body: { role } });
      error.value = undefined;
      await props.onDone();
    } catch (e) {
      error.value = (e as Error).message;
    }
  };
  return (
    <span>
      <select aria-label={`Role of ${props.member.user}`} value={props.member.role} onChange={(e) => void change((e.target as HTMLSelectElement).value)}>
        {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
      </select>
      <ErrorBox message={error.value} />
    </span>
  );
}

function AddMember(props: { project: string; onDone: () => Promise<void> }) {
  const { api } = useScope();
  const form = useForm();
  const user = useSignal('');
  const role = useSignal<RoleName>('member');
  const submit = async (e: Event) => {
    e.preventDefault();
    const name = user.value.trim();
    const check = () => validateObject(userKind, { kind: 'user', metadata: { name }, spec: { roles: [{ project: props.project, role: role.value }] } })
      .map((p) => ({ ...p, path: p.path === 'metadata.name' ? 'user' : p.path }));
    // "user "x" not found" names the User field: shown beside it.
    const send = () => api.request('PUT', paths.member(props.project, name), { body: { role: role.value } }).catch((e: unknown) => {
      throw e instanceof ApiError && e.code === 'STRATUS_ERR_NOT_FOUND' ? new ApiError(e.status, e.code, e.message, { problems: [{ path: 'user', message: e.message }] }) : e;
    });
    const ok = await form.submit(check, send);
    if (ok) { user.value = ''; await props.onDone(); }
  };
  return (
    <form onSubmit={submit} aria-label="Add a member" class="inline-form">
      <TextInput form={form} path="user" label="User" value={user} hint="An existing user's name." />
      <Field form={form} path="role" label="Role">
        {(a) => <select {...a} value={role.value} onChange={(e) => { role.value = (e.target as HTMLSelectElement).value as RoleName; }}>{ROLES.map((r) => <option key={r} value={r}>{r}</option>)}</select>}
      </Field>
      <button type="submit" disabled={form.busy.value}>Add member</button>
      <ErrorBox message={form.general.value} />
    </form>
  );
}

export const projectsPage: Page = { path: '/projects', title: 'Projects', nav: { label: 'Projects', section: 'Access', order: 10 }, component: Projects };
export const projectPage: Page = { path: '/projects/:name', title: (p) => `Project ${p['name']}`, navParent: '/projects', component: ProjectView };
