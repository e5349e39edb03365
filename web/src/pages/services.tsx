/**
 * Services: the list (ready/desired, rollout progress, revision, address) and a service's page:
 * its address and published ports, the rollout's progress, its replicas and events live, the
 * revision history, and for members scale, restart and rollback (each asks first).
 */
import { useSignal } from '@preact/signals';
import type { Page, PageProps } from '../app/page.js';
import { can } from '../app/session.js';
import { instanceKind, serviceKind } from '../../../src/model/kinds/index.js';
import { servicePortsOf, SERVICE_LABEL, type Service } from '../../../src/model/kinds/service.js';
import type { Instance } from '../../../src/model/kinds/instance.js';
import { OBJECT_KIND_LABEL, OBJECT_NAME_LABEL } from '../../../src/model/kinds/event.js';
import { itemPath } from '../../../src/client/paths.js';
import { Badge, ErrorBox, Facts, Link } from '../ui/components.js';
import { DataTable, type Column } from '../ui/table.js';
import { age } from '../ui/format.js';
import { ConfirmButton, DeleteButton, ListState, LiveTable, objectPath, Progress, TextInput, useForm, useLive, useScope } from './kit.js';
import { restartPatch, rollbackBody, rollbackTargets, rolloutProgress, scaleProblems } from './service-actions.js';
import { EventTable } from './events.js';
import { navigate } from '../app/router.js';

/** The service's rollout as a progress bar: available replicas of the current version, of those wanted. */
export function RolloutBar(props: { svc: Service }) {
  const p = rolloutProgress(props.svc);
  return <Progress label={`Rollout of ${props.svc.metadata.name}`} value={p.available} max={p.desired} text={p.text} />;
}

const columns: Column<Service>[] = [
  { key: 'name', header: 'Name', cell: (s) => <Link to={objectPath(serviceKind, s)}>{s.metadata.name}</Link>, sortValue: (s) => s.metadata.name },
  { key: 'ready', header: 'Ready', cell: (s) => `${s.status?.ready ?? 0}/${rolloutProgress(s).desired}`, sortValue: (s) => s.status?.ready ?? 0 },
  { key: 'rollout', header: 'Rollout', cell: (s) => <RolloutBar svc={s} /> },
  { key: 'revision', header: 'Revision', cell: (s) => String(s.status?.revision ?? ''), sortValue: (s) => s.status?.revision ?? 0 },
  { key: 'status', header: 'Status', cell: (s) => <Badge value={s.status?.phase ?? 'Unknown'} />, sortValue: (s) => s.status?.phase ?? '' },
  { key: 'address', header: 'Address', cell: (s) => s.status?.address ?? '' },
  { key: 'age', header: 'Age', cell: (s) => age(s.metadata.createdAt), sortValue: (s) => s.metadata.createdAt },
];

function Services() {
  return (
    <>
      {can('member') && <p>New services come from stacks: <Link to="/stacks">apply a stack</Link>.</p>}
      <LiveTable kind={serviceKind} label="Services" columns={columns} empty="No services yet." />
    </>
  );
}

function ServiceView(props: PageProps) {
  const { project, name } = props.params as { project: string; name: string };
  const { list, items } = useLive(serviceKind, project);
  const svc = items.find((s) => s.metadata.name === name);
  if (!svc) return list.loading.value || list.error.value ? <ListState list={list} /> : <p role="alert">No service "{name}" in project {project}.</p>;
  const member = can('member', project);
  const { api } = useScope();
  return (
    <>
      <Summary svc={svc} />
      {member && (
        <section aria-labelledby="svc-actions">
          <h2 id="svc-actions">Actions</h2>
          <ScaleForm svc={svc} />
          <div class="actions">
            <RestartButton svc={svc} />
            <DeleteButton api={api} kind={serviceKind} obj={svc} consequence="Its replicas are deleted with it." onDone={() => navigate('/services')} />
          </div>
        </section>
      )}
      <History svc={svc} member={member} />
      <Replicas project={project} name={name} />
      <section aria-labelledby="svc-events">
        <h2 id="svc-events">Events</h2>
        <EventTable project={project} selector={`${OBJECT_KIND_LABEL}=service,${OBJECT_NAME_LABEL}=${name}`} label={`Events of service ${name}`} />
      </section>
    </>
  );
}

function Summary(props: { svc: Service }) {
  const s = props.svc;
  const st = s.status ?? {};
  const ports = servicePortsOf(s.spec).map((p) => `${p.port}${p.targetPort && p.targetPort !== p.port ? `→${p.targetPort}` : ''}/${p.protocol ?? 'tcp'}${p.publish ? ` (published on every node at ${p.publish})` : ''}`);
  const hostPorts = (st.hostPorts ?? []).map((h) => `${h.port}/${h.protocol} on host port ${h.hostPort}`);
  return (
    <section aria-labelledby="svc-summary">
      <h2 id="svc-summary">Status</h2>
      <Facts rows={[
        ['Status', <Badge value={st.phase ?? 'Unknown'} />],
        ['Message', st.message],
        ['Replicas', `${rolloutProgress(s).desired} wanted, ${st.replicas ?? 0} running, ${st.ready ?? 0} ready, ${st.available ?? 0} available, ${st.updated ?? 0} of the current version`],
        ['Rollout', <><RolloutBar svc={s} /><span>{rolloutProgress(s).text}</span></>],
        ['Address', st.address ?? 'none yet'],
        ['Ports', ports.join(', ') || 'none'],
        ['Host ports', hostPorts.join(', ')],
        ['Autoscale', s.spec.autoscale ? `between ${s.spec.autoscale.min} and ${s.spec.autoscale.max} replicas` : undefined],
      ]} />
    </section>
  );
}

function ScaleForm(props: { svc: Service }) {
  const { api } = useScope();
  const form = useForm();
  const replicas = useSignal(String(props.svc.spec.replicas));
  const done = useSignal<string | undefined>(undefined);
  const submit = async (e: Event) => {
    e.preventDefault();
    done.value = undefined;
    const n = replicas.value.trim();
    const ok = await form.submit(() => scaleProblems(props.svc, n), () => api.resources(serviceKind, props.svc.metadata.project).patch(props.svc.metadata.name, { spec: { replicas: Number(n) } }));
    if (ok) done.value = `Scaled to ${n}.`;
  };
  return (
    <form onSubmit={submit} aria-label={`Scale service ${props.svc.metadata.name}`} class="inline-form">
      <TextInput form={form} path="spec.replicas" label="Replicas" numeric value={replicas} />
      <button type="submit" disabled={form.busy.value}>Scale</button>
      <ErrorBox message={form.general.value} />
      {done.value && <p role="status">{done.value}</p>}
    </form>
  );
}

function RestartButton(props: { svc: Service }) {
  const { api } = useScope();
  const s = props.svc;
  return (
    <ConfirmButton label={`Restart service ${s.metadata.name}`} text="Restart" danger={false} title={`Restart ${s.metadata.name}?`} confirm="Restart"
      question={`Replace every replica of ${s.metadata.name}, a few at a time, with the same version?`}
      action={() => api.resources(serviceKind, s.metadata.project).patch(s.metadata.name, restartPatch(s, new Date().toISOString()))} />
  );
}

function History(props: { svc: Service; member: boolean }) {
  const { api } = useScope();
  const s = props.svc;
  const targets = new Set(rollbackTargets(s).map((h) => h.revision));
  const rows = [...(s.status?.history ?? [])].reverse();
  const cols: Column<(typeof rows)[number]>[] = [
    { key: 'revision', header: 'Revision', cell: (h) => `${h.revision}${h.revision === s.status?.revision ? ' (current)' : ''}` },
    { key: 'state', header: 'State', cell: (h) => <Badge value={h.state} /> },
    { key: 'created', header: 'Created', cell: (h) => <time dateTime={h.createdAt} title={h.createdAt}>{age(h.createdAt)} ago</time> },
    { key: 'reason', header: 'Reason', cell: (h) => h.reason ?? '' },
    ...(props.member ? [{
      key: 'action', header: 'Action', cell: (h: (typeof rows)[number]) => targets.has(h.revision) && (
        <ConfirmButton label={`Roll back to revision ${h.revision}`} text="Roll back" title={`Roll back ${s.metadata.name}?`} confirm={`Roll back to revision ${h.revision}`}
          question={`Roll ${s.metadata.name} back from revision ${s.status?.revision} to revision ${h.revision}? Its replicas are replaced with that version.`}
          action={() => api.request('PUT', itemPath(serviceKind, s.metadata.name, s.metadata.project), { body: rollbackBody(s, h) })} />
      ),
    }] : []),
  ];
  return (
    <section aria-labelledby="svc-history">
      <h2 id="svc-history">Revision history</h2>
      <DataTable label={`Revisions of ${s.metadata.name}`} columns={cols} rows={rows} rowKey={(h) => String(h.revision)} empty="No rollout recorded yet." />
    </section>
  );
}

function Replicas(props: { project: string; name: string }) {
  const { list, items } = useLive(instanceKind, props.project, `${SERVICE_LABEL}=${props.name}`);
  const cols: Column<Instance>[] = [
    { key: 'name', header: 'Name', cell: (i) => <Link to={objectPath(instanceKind, i)}>{i.metadata.name}</Link>, sortValue: (i) => i.metadata.name },
    { key: 'phase', header: 'Phase', cell: (i) => <Badge value={i.status?.phase ?? 'Pending'} />, sortValue: (i) => i.status?.phase ?? '' },
    { key: 'revision', header: 'Revision', cell: (i) => i.metadata.labels?.['stratus.io/revision'] ?? '' },
    { key: 'node', header: 'Node', cell: (i) => i.status?.node ?? '', sortValue: (i) => i.status?.node ?? '' },
    { key: 'address', header: 'Address', cell: (i) => i.status?.ip ?? '' },
    { key: 'restarts', header: 'Restarts', cell: (i) => String(i.status?.restarts ?? 0) },
  ];
  return (
    <section aria-labelledby="svc-replicas">
      <h2 id="svc-replicas">Replicas</h2>
      <ListState list={list} />
      <DataTable label={`Replicas of ${props.name}`} columns={cols} rows={items} rowKey={(i) => i.metadata.name} initialSort={{ key: 'name', dir: 'asc' }} empty="No replicas." />
    </section>
  );
}

export const servicesPage: Page = { path: '/services', title: 'Services', nav: { label: 'Services', section: 'Workloads', order: 20 }, component: Services };
export const servicePage: Page = { path: '/projects/:project/services/:name', title: (p) => `Service ${p['name']}`, navParent: '/services', component: ServiceView };
