/**
 * The audit log (cluster admins): who did what, when, with which result, newest first, 100 at a
 * time with "Older entries" (the API's `before` cursor); filtered by actor, project, kind and
 * refused requests only. Filters apply on "Search" (each is a new query from the newest entry).
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import type { Page } from '../app/page.js';
import { paths } from '../../../src/client/paths.js';
import type { AuditEntry } from '../../../src/client/routes.js';
import { ErrorBox } from '../ui/components.js';
import { DataTable, type Column } from '../ui/table.js';
import { useScope } from './kit.js';
import { AUDIT_PAGE, auditQuery, type AuditFilter } from './requests.js';

const columns: Column<AuditEntry>[] = [
  { key: 'time', header: 'Time', cell: (e) => <time dateTime={e.time}>{e.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time> },
  { key: 'actor', header: 'Actor', cell: (e) => `${e.actor}${e.token ? ` (token ${e.token})` : ''}` },
  { key: 'action', header: 'Action', cell: (e) => e.action },
  { key: 'object', header: 'Object', cell: (e) => [e.kind, [e.project, e.name].filter(Boolean).join('/')].filter(Boolean).join(' ') },
  { key: 'result', header: 'Result', cell: (e) => <span class={e.status >= 400 ? 'field-error' : undefined}>{e.status}{e.code ? ` ${e.code}` : ''}</span> },
  { key: 'message', header: 'Message', cell: (e) => e.message ?? '' },
  { key: 'request', header: 'Request', cell: (e) => `${e.method} ${e.path}` },
];

function Audit() {
  const { api } = useScope();
  const draft = useSignal<AuditFilter>({ actor: '', project: '', kind: '', failed: false });
  const applied = useSignal<AuditFilter>(draft.value);
  const entries = useSignal<AuditEntry[]>([]);
  const before = useSignal<string | undefined>(undefined);
  const error = useSignal<string | undefined>(undefined);
  const busy = useSignal(false);
  const load = async (more: boolean) => {
    busy.value = true;
    try {
      const page = await api.request<{ items: AuditEntry[]; before?: string }>('GET', paths.audit(), { query: auditQuery(applied.value, more ? before.value : undefined) });
      entries.value = more ? [...entries.value, ...page.items] : page.items;
      before.value = page.items.length === AUDIT_PAGE ? page.before ?? page.items[page.items.length - 1]?.id : undefined;
      error.value = undefined;
    } catch (e) {
      error.value = (e as Error).message;
    } finally {
      busy.value = false;
    }
  };
  useEffect(() => { void load(false); }, [applied.value]);
  const set = (patch: Partial<AuditFilter>) => { draft.value = { ...draft.value, ...patch }; };
  const text = (key: 'actor' | 'project' | 'kind', label: string) => (
    <label>{label} <input type="text" aria-label={`Filter by ${key}`} value={draft.value[key]} onInput={(e) => set({ [key]: (e.target as HTMLInputElement).value })} /></label>
  );
  return (
    <section>
      <form class="filters" role="search" aria-label="Filter the audit log" onSubmit={(e) => { e.preventDefault(); applied.value = { ...draft.value }; }}>
        {text('actor', 'Actor')}
        {text('project', 'Project')}
        {text('kind', 'Kind')}
        <label><input type="checkbox" checked={draft.value.failed} onChange={(e) => set({ failed: (e.target as HTMLInputElement).checked })} /> Refused only</label>
        <button type="submit">Search</button>
      </form>
      <ErrorBox message={error.value} />
      <DataTable label="Audit log" columns={columns} rows={entries.value} rowKey={(e) => e.id} pageSize={Math.max(AUDIT_PAGE, entries.value.length)} empty={busy.value ? 'Loading…' : 'No entries.'} />
      {before.value && <button type="button" disabled={busy.value} onClick={() => void load(true)}>Older entries</button>}
    </section>
  );
}

export const auditPage: Page = { path: '/audit', title: 'Audit log', nav: { label: 'Audit log', section: 'Audit', order: 10 }, needs: 'cluster-admin', component: Audit };
