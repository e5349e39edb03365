/**
 * Overview: every node's CPU, memory, disk and GPU bars (allocated against allocatable, and the
 * agents' measured use where reported), the instances by phase, the pending ones with the
 * scheduler's explanation, and the latest warning events. Live: instances, nodes and events
 * from their watch streams; measured use re-read every 15 s (it has no watch).
 */
import { useEffect, useState } from 'preact/hooks';
import type { Page } from '../app/page.js';
import { session } from '../app/session.js';
import { eventKind, instanceKind, nodeKind } from '../../../src/model/kinds/index.js';
import type { Instance } from '../../../src/model/kinds/instance.js';
import type { Node } from '../../../src/model/kinds/node.js';
import { nodeState } from '../../../src/model/kinds/node.js';
import type { StratusEvent } from '../../../src/model/kinds/event.js';
import type { NodeUsageView } from '../../../src/model/usage.js';
import { paths } from '../api/client.js';
import { useWatchList } from '../api/watch-list.js';
import { DataTable, type Column } from '../ui/table.js';
import { Badge, ErrorBox, Link, Meter } from '../ui/components.js';
import { age, count, mib, millicores } from '../ui/format.js';
import { allocationByNode, phaseCounts, whyPending, type Allocated } from './common.js';

const USAGE_EVERY_MS = 15_000;

/** The agents' measured use by node (GET /v1/usage/nodes), refreshed every 15 s; empty when refused. */
function useNodeUsage(): Map<string, NodeUsageView> {
  const api = session.api.value!;
  const [usage, setUsage] = useState(new Map<string, NodeUsageView>());
  useEffect(() => {
    let live = true;
    const read = () => api.request<{ items: NodeUsageView[] }>('GET', paths.usageNodes())
      .then((r) => { if (live) setUsage(new Map(r.items.map((u) => [u.node, u]))); })
      .catch(() => undefined);
    void read();
    const t = setInterval(read, USAGE_EVERY_MS);
    return () => { live = false; clearInterval(t); };
  }, [api]);
  return usage;
}

interface NodeRow { node: Node; alloc: Allocated; usage?: NodeUsageView }

function nodeColumns(): Column<NodeRow>[] {
  const gpus = (r: NodeRow) => r.node.status?.allocatable?.gpus?.length ?? 0;
  return [
    { key: 'name', header: 'Node', cell: (r) => <Link to={`/nodes/${r.node.metadata.name}`}>{r.node.metadata.name}</Link>, sortValue: (r) => r.node.metadata.name },
    { key: 'state', header: 'State', cell: (r) => nodeState(r.node).split(',').map((s) => <Badge key={s} value={s} />), sortValue: (r) => nodeState(r.node) },
    { key: 'cpu', header: 'CPU', cell: (r) => bar(r, 'CPU', r.alloc.cpu, r.node.status?.allocatable?.cpu ?? 0, millicores, r.usage?.used?.cpu), sortValue: (r) => ratio(r.alloc.cpu, r.node.status?.allocatable?.cpu) },
    { key: 'memory', header: 'Memory', cell: (r) => bar(r, 'memory', r.alloc.memory, r.node.status?.allocatable?.memory ?? 0, mib, r.usage?.used?.memory), sortValue: (r) => ratio(r.alloc.memory, r.node.status?.allocatable?.memory) },
    { key: 'disk', header: 'Disk', cell: (r) => bar(r, 'disk', r.alloc.disk, r.node.status?.allocatable?.disk ?? 0, mib), sortValue: (r) => ratio(r.alloc.disk, r.node.status?.allocatable?.disk) },
    { key: 'gpus', header: 'GPUs', cell: (r) => (gpus(r) ? bar(r, 'GPUs', r.alloc.gpuMilli / 1000, gpus(r), (n) => `${Math.round(n * 100) / 100}`) : <span class="muted">none</span>), sortValue: (r) => ratio(r.alloc.gpuMilli / 1000, gpus(r)) },
    { key: 'instances', header: 'Instances', cell: (r) => count(r.alloc.instances), sortValue: (r) => r.alloc.instances },
  ];
}

function ratio(a: number, b: number | undefined): number {
  return b ? a / b : 0;
}

function bar(r: NodeRow, what: string, value: number, max: number, fmt: (n: number) => string, used?: number) {
  const text = `${fmt(value)} of ${fmt(max)} allocated${used !== undefined ? `, ${fmt(used)} used` : ''}`;
  return <Meter label={`${r.node.metadata.name} ${what}`} value={value} max={max} text={text} {...(used !== undefined ? { used } : {})} />;
}

const PENDING_COLUMNS: Column<Instance>[] = [
  { key: 'name', header: 'Instance', cell: (i) => <Link to={`/projects/${i.metadata.project}/instances/${i.metadata.name}`}>{i.metadata.name}</Link>, sortValue: (i) => i.metadata.name },
  { key: 'project', header: 'Project', cell: (i) => i.metadata.project, sortValue: (i) => i.metadata.project ?? '' },
  { key: 'age', header: 'Waiting', cell: (i) => age(i.metadata.createdAt), sortValue: (i) => i.metadata.createdAt },
  { key: 'why', header: 'Why pending', cell: (i) => whyPending(i) },
];

const EVENT_COLUMNS: Column<StratusEvent>[] = [
  { key: 'when', header: 'When', cell: (e) => age(e.spec.lastTime ?? e.metadata.createdAt), sortValue: (e) => e.spec.lastTime ?? e.metadata.createdAt },
  { key: 'object', header: 'Object', cell: (e) => `${e.spec.object.kind}/${e.spec.object.name}` },
  { key: 'reason', header: 'Reason', cell: (e) => e.spec.reason },
  { key: 'message', header: 'Message', cell: (e) => e.spec.message },
];

function Overview() {
  const api = session.api.value!;
  const project = session.project.value || undefined;
  const instances = useWatchList<Instance>(api, instanceKind, project);
  const nodes = useWatchList<Node>(api, nodeKind);
  const events = useWatchList<StratusEvent>(api, eventKind, project);
  const usage = useNodeUsage();
  const _changes = instances.version.value + nodes.version.value + events.version.value;
  const items = instances.values();
  const alloc = allocationByNode(items);
  const none: Allocated = { cpu: 0, memory: 0, disk: 0, gpuMilli: 0, instances: 0 };
  const nodeRows = nodes.values().map((n) => ({ node: n, alloc: alloc.get(n.metadata.name) ?? none, usage: usage.get(n.metadata.name) }));
  const pending = items.filter((i) => (i.status?.phase ?? 'Pending') === 'Pending');
  const warnings = events.values().filter((e) => e.spec.type === 'Warning');
  return (
    <div>
      <ErrorBox message={instances.error.value ?? nodes.error.value} />
      <section aria-labelledby="ov-phases">
        <h2 id="ov-phases">Instances by phase</h2>
        {instances.loading.value ? <p>Loading instances…</p> : (
          <ul class="cards" aria-label="Instances by phase">
            <li class="card"><span class="n">{count(items.length)}</span> total</li>
            {phaseCounts(items).map(([phase, n]) => (
              <li class="card" key={phase}><span class="n">{count(n)}</span> <Link to={`/instances?phase=${phase}`}>{phase}</Link></li>
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="ov-nodes">
        <h2 id="ov-nodes">Nodes</h2>
        <p class="hint">Bars: allocated of allocatable; the thin line under a bar is the measured use its agent reports.{project ? ' Allocation counts the selected project’s instances only.' : ''}</p>
        <DataTable label="Nodes" columns={nodeColumns()} rows={nodeRows} rowKey={(r) => r.node.metadata.name} pageSize={20} initialSort={{ key: 'name', dir: 'asc' }} empty={nodes.loading.value ? 'Loading nodes…' : 'No nodes have joined.'} />
      </section>
      <section aria-labelledby="ov-pending">
        <h2 id="ov-pending">Pending instances</h2>
        <DataTable label="Pending instances" columns={PENDING_COLUMNS} rows={pending} rowKey={(i) => `${i.metadata.project}/${i.metadata.name}`} pageSize={10} initialSort={{ key: 'age', dir: 'asc' }} empty="Nothing is waiting for a node." />
      </section>
      <section aria-labelledby="ov-warnings">
        <h2 id="ov-warnings">Recent warnings</h2>
        <DataTable label="Warning events" columns={EVENT_COLUMNS} rows={warnings} rowKey={(e) => `${e.metadata.project}/${e.metadata.name}`} pageSize={10} initialSort={{ key: 'when', dir: 'desc' }} empty="No warnings." />
      </section>
    </div>
  );
}

export const overviewPage: Page = { path: '/', title: 'Overview', nav: { label: 'Overview', section: 'Cluster', order: 0 }, component: Overview };
