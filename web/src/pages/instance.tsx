/**
 * One instance: its status (with the scheduler's explanation while pending), spec, allocation
 * (node, GPU devices and shares, host ports), events and live logs. Live from the watch stream.
 * Members see Stop / Start / Reboot / Delete (instance-actions.tsx) and a VM's serial console.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Page, PageProps } from '../app/page.js';
import { can, session } from '../app/session.js';
import { eventKind, instanceKind, nodeKind } from '../../../src/model/kinds/index.js';
import type { Instance } from '../../../src/model/kinds/instance.js';
import type { Node } from '../../../src/model/kinds/node.js';
import type { StratusEvent } from '../../../src/model/kinds/event.js';
import { useLiveObject, useWatchList } from '../api/watch-list.js';
import { Badge, ErrorBox, Facts, Link } from '../ui/components.js';
import { DataTable, type Column } from '../ui/table.js';
import { Logs } from '../ui/logs.js';
import { Console } from '../ui/console.js';
import { InstanceActions } from './instance-actions.js';
import { age, labelText, mib, millicores } from '../ui/format.js';
import { gpuText, whyPending } from './common.js';

export const EVENT_COLUMNS: Column<StratusEvent>[] = [
  { key: 'when', header: 'When', cell: (e) => age(e.spec.lastTime ?? e.metadata.createdAt), sortValue: (e) => e.spec.lastTime ?? e.metadata.createdAt },
  { key: 'type', header: 'Type', cell: (e) => <Badge value={e.spec.type} />, sortValue: (e) => e.spec.type },
  { key: 'reason', header: 'Reason', cell: (e) => e.spec.reason },
  { key: 'message', header: 'Message', cell: (e) => e.spec.message },
  { key: 'count', header: 'Count', cell: (e) => String(e.spec.count ?? 1) },
];

/** The GPU devices of `node` (read once: a node's devices do not change; no watch held for them). */
function useGpuModels(node: string | undefined): { index: number; model: string }[] {
  const api = session.api.value!;
  const [devices, setDevices] = useState<{ index: number; model: string }[]>([]);
  useEffect(() => {
    if (!node) return undefined;
    let live = true;
    api.resources<Node>(nodeKind).get(node).then((n) => { if (live) setDevices(n.status?.allocatable?.gpus ?? []); }).catch(() => undefined);
    return () => { live = false; };
  }, [api, node]);
  return devices;
}

function InstanceView({ params }: PageProps) {
  const api = session.api.value!;
  const project = params['project']!;
  const name = params['name']!;
  const { object: i, gone, error } = useLiveObject<Instance>(api, instanceKind, project, name);
  const gpus = i?.status?.allocation?.gpus ?? [];
  const devices = useGpuModels(gpus.length > 0 ? i?.status?.node : undefined);
  const events = useWatchList<StratusEvent>(api, eventKind, project);
  const _changes = events.version.value;
  if (!i) return <div><ErrorBox message={gone ? `instance "${name}" was deleted` : error} />{!gone && !error && <p>Loading…</p>}</div>;
  const mine = events.values().filter((e) => e.spec.object.kind === 'instance' && e.spec.object.name === name);
  const s = i.status;
  return (
    <div>
      {can('member', project) && <InstanceActions instance={i} />}
      <div class="grid2">
        <section aria-labelledby="i-status">
          <h2 id="i-status">Status</h2>
          <Facts rows={[
            ['Phase', <Badge value={s?.phase ?? 'Pending'} />],
            ['Reason', s?.reason],
            ['Message', s?.message],
            ['Why pending', (s?.phase ?? 'Pending') === 'Pending' ? whyPending(i) : undefined],
            ['Node', s?.node ? <Link to={`/nodes/${s.node}`}>{s.node}</Link> : undefined],
            ['Address', s?.ip],
            ['Started', s?.startedAt ? `${age(s.startedAt)} ago` : undefined],
            ['Restarts', s?.restarts !== undefined ? String(s.restarts) : undefined],
            ['Exit code', s?.exitCode !== undefined ? String(s.exitCode) : undefined],
            ['Project', project],
            ['Owner', i.metadata.owner ? `${i.metadata.owner.kind}/${i.metadata.owner.name}` : undefined],
            ['Labels', labelText(i.metadata.labels)],
          ]} />
        </section>
        <section aria-labelledby="i-alloc">
          <h2 id="i-alloc">Allocation</h2>
          <Facts rows={[
            ['Driver', i.spec.driver],
            ['CPU', millicores(i.spec.resources?.cpu)],
            ['Memory', mib(i.spec.resources?.memory)],
            ['Disk', mib(i.spec.resources?.disk)],
            ['GPUs', gpuText(gpus, devices) || undefined],
            ['Host ports', (s?.allocation?.hostPorts ?? []).join(', ') || undefined],
          ]} />
        </section>
      </div>
      <section aria-labelledby="i-events">
        <h2 id="i-events">Events</h2>
        <DataTable label="Instance events" columns={EVENT_COLUMNS} rows={mine} rowKey={(e) => e.metadata.name} pageSize={10} initialSort={{ key: 'when', dir: 'desc' }} empty="No events." />
      </section>
      <section aria-labelledby="i-logs">
        <h2 id="i-logs">Logs</h2>
        <Logs key={s?.startedAt ?? ''} api={api} project={project} name={name} />
      </section>
      {i.spec.driver === 'vm' && can('member', project) && (
        <section aria-labelledby="i-console">
          <h2 id="i-console">Console</h2>
          <Console api={api} project={project} name={name} />
        </section>
      )}
      <section aria-labelledby="i-spec">
        <h2 id="i-spec">Spec</h2>
        <pre tabIndex={0} aria-label="Spec as JSON">{JSON.stringify(i.spec, null, 2)}</pre>
      </section>
    </div>
  );
}

export const instancePage: Page = { path: '/projects/:project/instances/:name', title: (p) => `Instance ${p['name']}`, navParent: '/instances', component: InstanceView };
