/**
 * Networks: each project's virtual networks (range, gateway, VXLAN id, nodes, phase), live; for
 * members a form that creates one (name, optional range, description), validated by the network
 * kind's schema and rules (a CIDR with host bits set is refused here, in the API's words), and a
 * delete that asks first (the API refuses one in use, and says which instances use it).
 */
import { useSignal } from '@preact/signals';
import type { Page } from '../app/page.js';
import { can } from '../app/session.js';
import { networkKind } from '../../../src/model/kinds/index.js';
import type { Network } from '../../../src/model/kinds/network.js';
import { Badge, ErrorBox } from '../ui/components.js';
import { DataTable, type Column } from '../ui/table.js';
import { validateObject } from '../ui/form.js';
import { age } from '../ui/format.js';
import { networkBody } from './requests.js';
import { DeleteButton, ListState, ScopeNote, TextInput, useForm, useLive, useScope } from './kit.js';

function columns(all: boolean, member: (p: string) => boolean): Column<Network>[] {
  const { api } = useScope();
  return [
    { key: 'name', header: 'Name', cell: (n) => n.metadata.name, sortValue: (n) => n.metadata.name },
    ...(all ? [{ key: 'project', header: 'Project', cell: (n: Network) => n.metadata.project ?? '', sortValue: (n: Network) => n.metadata.project ?? '' }] : []),
    { key: 'cidr', header: 'Range', cell: (n) => n.status?.cidr ?? n.spec.cidr ?? '(from the pool)' },
    { key: 'gateway', header: 'Gateway', cell: (n) => n.status?.gateway ?? '' },
    { key: 'vni', header: 'VNI', cell: (n) => String(n.status?.vni ?? '') },
    { key: 'nodes', header: 'Nodes', cell: (n) => (n.status?.nodes ?? []).map((x) => x.node).join(', '), sortValue: (n) => n.status?.nodes?.length ?? 0 },
    { key: 'phase', header: 'Phase', cell: (n) => <span><Badge value={n.status?.phase ?? 'Pending'} /> {n.status?.message ?? ''}</span>, sortValue: (n) => n.status?.phase ?? '' },
    { key: 'age', header: 'Age', cell: (n) => age(n.metadata.createdAt), sortValue: (n) => n.metadata.createdAt },
    { key: 'actions', header: 'Actions', cell: (n) => member(n.metadata.project ?? '') && <DeleteButton api={api} kind={networkKind} obj={n} consequence="Instances can no longer join it; the API refuses while instances use it." /> },
  ];
}

function Networks() {
  const { project } = useScope();
  const { list, items } = useLive(networkKind, project);
  return (
    <>
      <section>
        <ScopeNote project={project} what="Networks" />
        <ListState list={list} />
        <DataTable label="Networks" columns={columns(!project, (p) => can('member', p))} rows={items} rowKey={(n) => `${n.metadata.project}/${n.metadata.name}`} initialSort={{ key: 'name', dir: 'asc' }} empty="No networks." />
      </section>
      {project && can('member', project) && <CreateNetwork project={project} />}
    </>
  );
}

function CreateNetwork(props: { project: string }) {
  const { api } = useScope();
  const form = useForm();
  const name = useSignal('');
  const cidr = useSignal('');
  const description = useSignal('');
  const done = useSignal<string | undefined>(undefined);
  const submit = async (e: Event) => {
    e.preventDefault();
    done.value = undefined;
    const body = networkBody(name.value, cidr.value, description.value);
    const made = await form.submit(() => validateObject(networkKind, body), () => api.resources(networkKind, props.project).create(body));
    if (made) {
      done.value = `Network ${made.metadata.name} created.`;
      name.value = cidr.value = description.value = '';
    }
  };
  return (
    <section aria-labelledby="net-new">
      <h2 id="net-new">New network</h2>
      <form onSubmit={submit} aria-label="New network">
        <TextInput form={form} path="metadata.name" label="Name" value={name} />
        <TextInput form={form} path="spec.cidr" label="Address range (CIDR)" value={cidr} placeholder="10.50.0.0/24" hint="Empty: a /24 from the cluster pool. /16 to /28; must not overlap another network." />
        <TextInput form={form} path="spec.description" label="Description" value={description} />
        <button type="submit" disabled={form.busy.value}>Create network</button>
        <ErrorBox message={form.general.value} />
        {done.value && <p role="status">{done.value}</p>}
      </form>
    </section>
  );
}

export const networksPage: Page = { path: '/networks', title: 'Networks', nav: { label: 'Networks', section: 'Network', order: 10 }, component: Networks };
