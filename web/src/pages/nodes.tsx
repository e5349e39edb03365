/**
 * Nodes: a live table (state, zone, pool, labels, drivers, allocatable), and a node's page: its
 * labels, drivers and why one is unavailable, conditions, the instances on it, and for cluster
 * admins Cordon / Uncordon / Drain (the same patches as `stratus node cordon|uncordon|drain`).
 */
import { useState } from 'preact/hooks';
import type { Page, PageProps } from '../app/page.js';
import { isClusterAdmin, session } from '../app/session.js';
import { instanceKind, nodeKind } from '../../../src/model/kinds/index.js';
import { DRAINED_ANNOTATION, nodeState, type Node } from '../../../src/model/kinds/node.js';
import type { Instance } from '../../../src/model/kinds/instance.js';
import { useLiveObject, useWatchList } from '../api/watch-list.js';
import { DataTable, type Column } from '../ui/table.js';
import { Badge, Confirm, ErrorBox, Facts, Link } from '../ui/components.js';
import { age, labelText, mib, millicores } from '../ui/format.js';

const COLUMNS: Column<Node>[] = [
  { key: 'name', header: 'Name', cell: (n) => <Link to={`/nodes/${n.metadata.name}`}>{n.metadata.name}</Link>, sortValue: (n) => n.metadata.name },
  { key: 'state', header: 'State', cell: (n) => nodeState(n).split(',').map((s) => <Badge key={s} value={s} />), sortValue: (n) => nodeState(n) },
  { key: 'zone', header: 'Zone', cell: (n) => n.spec.zone ?? '', sortValue: (n) => n.spec.zone ?? '' },
  { key: 'pool', header: 'Pool', cell: (n) => n.spec.pool ?? '', sortValue: (n) => n.spec.pool ?? '' },
  { key: 'drivers', header: 'Drivers', cell: (n) => (n.status?.drivers ?? []).filter((d) => d.healthy).map((d) => d.name).join(', ') },
  { key: 'cpu', header: 'CPU', cell: (n) => millicores(n.status?.allocatable?.cpu), sortValue: (n) => n.status?.allocatable?.cpu ?? 0 },
  { key: 'memory', header: 'Memory', cell: (n) => mib(n.status?.allocatable?.memory), sortValue: (n) => n.status?.allocatable?.memory ?? 0 },
  { key: 'gpus', header: 'GPUs', cell: (n) => String(n.status?.allocatable?.gpus?.length ?? 0), sortValue: (n) => n.status?.allocatable?.gpus?.length ?? 0 },
  { key: 'labels', header: 'Labels', cell: (n) => labelText(n.metadata.labels) },
  { key: 'heartbeat', header: 'Last heartbeat', cell: (n) => (n.status?.lastHeartbeat ? `${age(n.status.lastHeartbeat)} ago` : 'never'), sortValue: (n) => n.status?.lastHeartbeat ?? '' },
];

function Nodes() {
  const list = useWatchList<Node>(session.api.value!, nodeKind);
  const _changes = list.version.value;
  return (
    <div>
      <ErrorBox message={list.error.value} />
      <DataTable label="Nodes" columns={COLUMNS} rows={list.values()} rowKey={(n) => n.metadata.name} initialSort={{ key: 'name', dir: 'asc' }} empty={list.loading.value ? 'Loading nodes…' : 'No nodes have joined.'} />
    </div>
  );
}

/** The merge patches of `stratus node cordon|uncordon|drain` (src/cli/commands/nodes.ts). */
export const NODE_ACTIONS = {
  Cordon: { spec: { unschedulable: true } },
  Uncordon: { metadata: { annotations: { [DRAINED_ANNOTATION]: null } }, spec: { unschedulable: null, draining: null, drainDeadline: null } },
  Drain: { metadata: { annotations: { [DRAINED_ANNOTATION]: null } }, spec: { unschedulable: true, draining: true, drainDeadline: null } },
} as const;

const INSTANCE_COLUMNS: Column<Instance>[] = [
  { key: 'name', header: 'Instance', cell: (i) => <Link to={`/projects/${i.metadata.project}/instances/${i.metadata.name}`}>{i.metadata.name}</Link>, sortValue: (i) => i.metadata.name },
  { key: 'project', header: 'Project', cell: (i) => i.metadata.project, sortValue: (i) => i.metadata.project ?? '' },
  { key: 'phase', header: 'Phase', cell: (i) => <Badge value={i.status?.phase ?? 'Pending'} />, sortValue: (i) => i.status?.phase ?? '' },
  { key: 'resources', header: 'CPU / memory', cell: (i) => `${millicores(i.spec.resources?.cpu)} / ${mib(i.spec.resources?.memory)}` },
];

function NodeActions(props: { node: Node }) {
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const name = props.node.metadata.name;
  const act = async (action: keyof typeof NODE_ACTIONS) => {
    setConfirming(false);
    try {
      setError(undefined);
      await session.api.value!.resources(nodeKind).patch(name, NODE_ACTIONS[action] as unknown as Record<string, unknown>);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const spec = props.node.spec;
  return (
    <div>
      <div class="actions">
        {!spec.unschedulable && <button type="button" onClick={() => act('Cordon')}>Cordon</button>}
        {spec.unschedulable && <button type="button" onClick={() => act('Uncordon')}>Uncordon</button>}
        {!spec.draining && <button type="button" class="danger" onClick={() => setConfirming(true)}>Drain</button>}
      </div>
      <ErrorBox message={error} />
      <Confirm open={confirming} title={`Drain node ${name}?`} question="No new instances are placed on it, and its instances are moved elsewhere (services' disruption budgets respected)." action="Drain" onConfirm={() => act('Drain')} onCancel={() => setConfirming(false)} />
    </div>
  );
}

function NodeView({ params }: PageProps) {
  const api = session.api.value!;
  const name = params['name']!;
  const { object: n, gone, error } = useLiveObject<Node>(api, nodeKind, undefined, name);
  const instances = useWatchList<Instance>(api, instanceKind);
  const _changes = instances.version.value;
  if (!n) return <div><ErrorBox message={gone ? `node "${name}" was deleted` : error} />{!gone && !error && <p>Loading…</p>}</div>;
  const here = instances.values().filter((i) => i.status?.node === name);
  const s = n.status;
  return (
    <div>
      {isClusterAdmin() && <NodeActions node={n} />}
      <Facts rows={[
        ['State', nodeState(n).split(',').map((x) => <Badge key={x} value={x} />)],
        ['Message', s?.message],
        ['Zone', n.spec.zone],
        ['Pool', n.spec.pool],
        ['Addresses', (s?.addresses ?? []).map((a) => `${a.address} (${a.type})`).join(', ')],
        ['Allocatable', s?.allocatable ? `${millicores(s.allocatable.cpu)}, ${mib(s.allocatable.memory)} memory, ${mib(s.allocatable.disk)} disk, ${s.allocatable.gpus?.length ?? 0} GPUs` : undefined],
        ['Last heartbeat', s?.lastHeartbeat ? `${age(s.lastHeartbeat)} ago` : 'never'],
        ['System', [s?.info?.os, s?.info?.kernel, s?.info?.arch].filter(Boolean).join(', ')],
        ['Agent', s?.info?.agentVersion],
      ]} />
      <section aria-labelledby="n-labels">
        <h2 id="n-labels">Labels</h2>
        {Object.keys(n.metadata.labels ?? {}).length ? <Facts rows={Object.entries(n.metadata.labels ?? {}).map(([k, v]) => [k, v])} /> : <p class="muted">No labels.</p>}
      </section>
      <section aria-labelledby="n-drivers">
        <h2 id="n-drivers">Drivers</h2>
        <table aria-label="Drivers">
          <thead><tr><th scope="col">Driver</th><th scope="col">Available</th><th scope="col">Version</th><th scope="col">Why / details</th></tr></thead>
          <tbody>{(s?.drivers ?? []).map((d) => <tr key={d.name}><td>{d.name}</td><td><Badge value={d.healthy ? 'Ready' : 'Unavailable'} /></td><td>{d.version ?? ''}</td><td>{d.message ?? ''}</td></tr>)}</tbody>
        </table>
      </section>
      <section aria-labelledby="n-conditions">
        <h2 id="n-conditions">Conditions</h2>
        <table aria-label="Conditions">
          <thead><tr><th scope="col">Condition</th><th scope="col">Status</th><th scope="col">Reason</th><th scope="col">Message</th><th scope="col">Since</th></tr></thead>
          <tbody>{(s?.conditions ?? []).map((c) => <tr key={c.type}><td>{c.type}</td><td>{c.status}</td><td>{c.reason ?? ''}</td><td>{c.message ?? ''}</td><td>{c.lastTransitionTime ? `${age(c.lastTransitionTime)} ago` : ''}</td></tr>)}</tbody>
        </table>
      </section>
      <section aria-labelledby="n-instances">
        <h2 id="n-instances">Instances on this node</h2>
        <DataTable label="Instances on this node" columns={INSTANCE_COLUMNS} rows={here} rowKey={(i) => `${i.metadata.project}/${i.metadata.name}`} pageSize={20} initialSort={{ key: 'name', dir: 'asc' }} empty={instances.loading.value ? 'Loading…' : 'No instances run here.'} />
      </section>
    </div>
  );
}

export const nodesPage: Page = { path: '/nodes', title: 'Nodes', nav: { label: 'Nodes', section: 'Cluster', order: 10 }, component: Nodes };
export const nodePage: Page = { path: '/nodes/:name', title: (p) => `Node ${p['name']}`, navParent: '/nodes', component: NodeView };
