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
import { Badge } from '../ui/components.js';
import type { Column } from '../ui/table.js';
import { age } from '../ui/format.js';
import { networkBody } from './requests.js';
import { CreateForm, DeleteButton, LiveTable, TextInput, useScope } from './kit.js';

function columns(): Column<Network>[] {
  const { api } = useScope();
  return [
    { key: 'name', header: 'Name', cell: (n) => n.metadata.name, sortValue: (n) => n.metadata.name },
    { key: 'cidr', header: 'Range', cell: (n) => n.status?.cidr ?? n.spec.cidr ?? '(from the pool)' },
    { key: 'gateway', header: 'Gateway', cell: (n) => n.status?.gateway ?? '' },
    { key: 'vni', header: 'VNI', cell: (n) => String(n.status?.vni ?? '') },
    { key: 'nodes', header: 'Nodes', cell: (n) => (n.status?.nodes ?? []).map((x) => x.node).join(', '), sortValue: (n) => n.status?.nodes?.length ?? 0 },
    { key: 'phase', header: 'Phase', cell: (n) => <span><Badge value={n.status?.phase ?? 'Pending'} /> {n.status?.message ?? ''}</span>, sortValue: (n) => n.status?.phase ?? '' },
    { key: 'age', header: 'Age', cell: (n) => age(n.metadata.createdAt), sortValue: (n) => n.metadata.createdAt },
    { key: 'actions', header: 'Actions', cell: (n) => can('member', n.metadata.project) && <DeleteButton api={api} kind={networkKind} obj={n} consequence="Instances can no longer join it; the API refuses while instances use it." /> },
  ];
}

function Networks() {
  const { project } = useScope();
  return (
    <>
      <LiveTable kind={networkKind} label="Networks" columns={columns()} empty="No networks." />
      {project && can('member', project) && <CreateNetwork project={project} />}
    </>
  );
}

function CreateNetwork(props: { project: string }) {
  const name = useSignal('');
  const cidr = useSignal('');
  const description = useSignal('');
  return (
    <section aria-labelledby="net-new">
      <h2 id="net-new">New network</h2>
      <CreateForm kind={networkKind} project={props.project} label="New network" noun="Network" submit="Create network"
        body={() => networkBody(name.value, cidr.value, description.value)} onCreated={() => { name.value = cidr.value = description.value = ''; }}>
        {(form) => (
          <>
            <TextInput form={form} path="metadata.name" label="Name" value={name} />
            <TextInput form={form} path="spec.cidr" label="Address range (CIDR)" value={cidr} placeholder="10.50.0.0/24" hint="Empty: a /24 from the cluster pool. /16 to /28; must not overlap another network." />
            <TextInput form={form} path="spec.description" label="Description" value={description} />
          </>
        )}
      </CreateForm>
    </section>
  );
}

export const networksPage: Page = { path: '/networks', title: 'Networks', nav: { label: 'Networks', section: 'Network', order: 10 }, component: Networks };
