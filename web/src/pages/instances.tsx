/**
 * Instances: a live table of the selected project's instances (or every project's), filtered by
 * label selector (on the server: the list and its watch carry the selector), phase, node and name,
 * sorted by any column, 50 rows a page. Filters live in the URL (?selector=&phase=&node=&q=) so a
 * filtered view can be linked (the Overview's phase counts do).
 */
import { useMemo } from 'preact/hooks';
import type { Page } from '../app/page.js';
import { session } from '../app/session.js';
import { navigate, search } from '../app/router.js';
import { instanceKind } from '../../../src/model/kinds/index.js';
import { PHASES, type Instance } from '../../../src/model/kinds/instance.js';
import { useWatchList } from '../api/watch-list.js';
import { DataTable, type Column } from '../ui/table.js';
import { Badge, ErrorBox, Link } from '../ui/components.js';
import { age, mib, millicores } from '../ui/format.js';
import { filterInstances, type InstanceFilter } from './common.js';

const COLUMNS: Column<Instance>[] = [
  { key: 'name', header: 'Name', cell: (i) => <Link to={`/projects/${i.metadata.project}/instances/${i.metadata.name}`}>{i.metadata.name}</Link>, sortValue: (i) => i.metadata.name },
  { key: 'project', header: 'Project', cell: (i) => i.metadata.project, sortValue: (i) => i.metadata.project ?? '' },
  { key: 'phase', header: 'Phase', cell: (i) => <Badge value={i.status?.phase ?? 'Pending'} />, sortValue: (i) => i.status?.phase ?? 'Pending' },
  { key: 'node', header: 'Node', cell: (i) => (i.status?.node ? <Link to={`/nodes/${i.status.node}`}>{i.status.node}</Link> : ''), sortValue: (i) => i.status?.node ?? '' },
  { key: 'driver', header: 'Driver', cell: (i) => i.spec.driver, sortValue: (i) => i.spec.driver },
  { key: 'address', header: 'Address', cell: (i) => i.status?.ip ?? '' },
  { key: 'resources', header: 'CPU / memory', cell: (i) => `${millicores(i.spec.resources?.cpu)} / ${mib(i.spec.resources?.memory)}`, sortValue: (i) => i.spec.resources?.cpu ?? 0 },
  { key: 'restarts', header: 'Restarts', cell: (i) => String(i.status?.restarts ?? 0), sortValue: (i) => i.status?.restarts ?? 0 },
  { key: 'age', header: 'Age', cell: (i) => age(i.metadata.createdAt), sortValue: (i) => -Date.parse(i.metadata.createdAt) },
];

/** Sets one filter in the URL (replacing the entry: filtering is not navigation). */
function setFilter(key: string, value: string): void {
  const q = new URLSearchParams(search.value);
  if (value) q.set(key, value);
  else q.delete(key);
  const s = q.toString();
  navigate(`/instances${s ? `?${s}` : ''}`, true);
}

function Instances() {
  const api = session.api.value!;
  const project = session.project.value || undefined;
  const params = search.value;
  const selector = params.get('selector') ?? '';
  const filter: InstanceFilter = { phase: params.get('phase') ?? '', node: params.get('node') ?? '', q: params.get('q') ?? '' };
  const list = useWatchList<Instance>(api, instanceKind, project, selector || undefined);
  const version = list.version.value;
  const rows = useMemo(() => filterInstances(list.values(), filter), [list, version, filter.phase, filter.node, filter.q]);
  const columns = project ? COLUMNS.filter((c) => c.key !== 'project') : COLUMNS;
  return (
    <div>
      <form class="filters" role="search" aria-label="Filter instances" onSubmit={(e) => e.preventDefault()}>
        <label>Label selector
          <input type="text" aria-label="Label selector" placeholder="app=web,tier!=db" value={selector}
            onChange={(e) => setFilter('selector', (e.target as HTMLInputElement).value.trim())} />
        </label>
        <label>Phase
          <select aria-label="Phase" value={filter.phase} onChange={(e) => setFilter('phase', (e.target as HTMLSelectElement).value)}>
            <option value="">Any</option>
            {PHASES.map((p) => <option key={p} value={p}>{p}</option>)}
          </select>
        </label>
        <label>Node
          <input type="text" aria-label="Node" value={filter.node} onChange={(e) => setFilter('node', (e.target as HTMLInputElement).value.trim())} />
        </label>
        <label>Name
          <input type="search" aria-label="Search names" value={filter.q} onInput={(e) => setFilter('q', (e.target as HTMLInputElement).value)} />
        </label>
      </form>
      <ErrorBox message={list.error.value} />
      <DataTable label="Instances" columns={columns} rows={rows} rowKey={(i) => `${i.metadata.project}/${i.metadata.name}`}
        initialSort={{ key: 'name', dir: 'asc' }} empty={list.loading.value ? 'Loading instances…' : 'No instances match.'} />
      {!list.complete.value && !list.loading.value && <p class="hint" role="status">Still loading more instances…</p>}
    </div>
  );
}

export const instancesPage: Page = { path: '/instances', title: 'Instances', nav: { label: 'Instances', section: 'Workloads', order: 10 }, component: Instances };
