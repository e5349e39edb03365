/**
 * Stacks: the list and, for members, the editor (paste or upload YAML, plan as a diff, apply,
 * follow progress); a stack's page: its status, what it owns, its services' progress, applying a
 * new version of it, and deleting it with everything it owns (asked first).
 */
import type { Page, PageProps } from '../app/page.js';
import { can } from '../app/session.js';
import { navigate } from '../app/router.js';
import { findKind, stackKind } from '../../../src/model/kinds/index.js';
import type { Stack } from '../../../src/model/kinds/stack.js';
import { Badge, Facts, Link } from '../ui/components.js';
import type { Column } from '../ui/table.js';
import { age } from '../ui/format.js';
import { DeleteButton, ListState, LiveTable, objectPath, useLive, useScope } from './kit.js';
import { StackEditor } from './stack-editor.js';
import { StackProgress } from './stack-follow.js';

const columns: Column<Stack>[] = [
  { key: 'name', header: 'Name', cell: (s) => <Link to={objectPath(stackKind, s)}>{s.metadata.name}</Link>, sortValue: (s) => s.metadata.name },
  { key: 'objects', header: 'Objects', cell: (s) => String(s.spec.objects.length), sortValue: (s) => s.spec.objects.length },
  { key: 'source', header: 'Source', cell: (s) => s.spec.source ?? '' },
  { key: 'status', header: 'Status', cell: (s) => <Badge value={s.status?.phase ?? 'Applying'} />, sortValue: (s) => s.status?.phase ?? '' },
  { key: 'applied', header: 'Applied', cell: (s) => (s.status?.appliedAt ? `${age(s.status.appliedAt)} ago` : ''), sortValue: (s) => s.status?.appliedAt ?? '' },
];

function Stacks() {
  const { project } = useScope();
  return (
    <>
      <LiveTable kind={stackKind} label="Stacks" columns={columns} empty="No stacks yet." />
      {project && can('member', project) && (
        <section aria-labelledby="stack-new">
          <h2 id="stack-new">Apply a stack</h2>
          <StackEditor project={project} />
        </section>
      )}
    </>
  );
}

/** The page of one of the stack's objects, where the dashboard has one. */
function ownedLink(project: string, kind: string, name: string) {
  const k = findKind(kind);
  const pageKinds = ['service', 'instance'];
  return k && pageKinds.includes(k.kind) ? <Link to={objectPath(k, { metadata: { name, project } })}>{kind}/{name}</Link> : `${kind}/${name}`;
}

function StackView(props: PageProps) {
  const { project, name } = props.params as { project: string; name: string };
  const { api } = useScope();
  const { list, items } = useLive(stackKind, project);
  const stack = items.find((s) => s.metadata.name === name);
  if (!stack) return list.loading.value || list.error.value ? <ListState list={list} /> : <p role="alert">No stack "{name}" in project {project}.</p>;
  const member = can('member', project);
  const params = Object.entries(stack.spec.parameters ?? {}).map(([k, v]) => `${k}=${String(v)}`).join(', ');
  return (
    <>
      <section aria-labelledby="stack-status">
        <h2 id="stack-status">Status</h2>
        <Facts rows={[
          ['Status', <Badge value={stack.status?.phase ?? 'Applying'} />],
          ['Message', stack.status?.message],
          ['Source', stack.spec.source],
          ['Applied', stack.status?.appliedAt],
          ['Parameters', params],
          ['Description', stack.spec.description],
        ]} />
        {member && <DeleteButton api={api} kind={stackKind} obj={stack} consequence={`Everything it owns (${stack.spec.objects.length} objects) is deleted with it.`} onDone={() => navigate('/stacks')} />}
      </section>
      <section aria-labelledby="stack-objects">
        <h2 id="stack-objects">Objects</h2>
        <ul aria-label={`Objects of stack ${name}`}>
          {stack.spec.objects.map((o) => <li key={`${o.kind}/${o.name}`}>{ownedLink(project, o.kind, o.name)}</li>)}
        </ul>
        <StackProgress project={project} stack={name} />
      </section>
      {member && (
        <section aria-labelledby="stack-apply">
          <h2 id="stack-apply">Apply a new version</h2>
          <StackEditor project={project} stack={name} />
        </section>
      )}
    </>
  );
}

export const stacksPage: Page = { path: '/stacks', title: 'Stacks', nav: { label: 'Stacks', section: 'Workloads', order: 30 }, component: Stacks };
export const stackPage: Page = { path: '/projects/:project/stacks/:name', title: (p) => `Stack ${p['name']}`, navParent: '/stacks', component: StackView };
