/**
 * Events: what happened to which object and why, newest first, live from the watch stream;
 * filtered by type (warnings only) and by text (reason, object, message). `EventTable` is also
 * what the service and stack pages show for their own objects (a label selector).
 */
import { useSignal } from '@preact/signals';
import type { Page } from '../app/page.js';
import { eventKind } from '../../../src/model/kinds/index.js';
import type { StratusEvent } from '../../../src/model/kinds/event.js';
import { Badge } from '../ui/components.js';
import { DataTable, type Column } from '../ui/table.js';
import { age } from '../ui/format.js';
import { filterEvents, lastTime, type EventFilter } from './requests.js';
import { ListState, projectColumn, ScopeNote, useLive, useScope } from './kit.js';

const columns = (all: boolean): Column<StratusEvent>[] => [
  { key: 'last', header: 'Last seen', cell: (e) => <time dateTime={lastTime(e)} title={lastTime(e)}>{age(lastTime(e))} ago</time>, sortValue: lastTime },
  { key: 'type', header: 'Type', cell: (e) => <Badge value={e.spec.type} />, sortValue: (e) => e.spec.type },
  { key: 'reason', header: 'Reason', cell: (e) => e.spec.reason, sortValue: (e) => e.spec.reason },
  ...(all ? [projectColumn<StratusEvent>()] : []),
  { key: 'object', header: 'Object', cell: (e) => `${e.spec.object.kind}/${e.spec.object.name}`, sortValue: (e) => `${e.spec.object.kind}/${e.spec.object.name}` },
  { key: 'count', header: 'Count', cell: (e) => String(e.spec.count ?? 1) },
  { key: 'message', header: 'Message', cell: (e) => e.spec.message },
];

/** The live events of `project` (undefined: every project) that `selector` selects, filtered. */
export function EventTable(props: { project: string | undefined; selector?: string; label: string; filter?: EventFilter }) {
  const { list, items } = useLive(eventKind, props.project, props.selector);
  const rows = filterEvents(items, props.filter ?? { warningsOnly: false, text: '' });
  return (
    <>
      <ListState list={list} />
      <DataTable label={props.label} columns={columns(!props.project)} rows={rows} rowKey={(e) => `${e.metadata.project}/${e.metadata.name}`} pageSize={25} empty="No events." />
    </>
  );
}

function Events() {
  const { project } = useScope();
  const warningsOnly = useSignal(false);
  const text = useSignal('');
  return (
    <section>
      <ScopeNote project={project} what="Events" />
      <div class="filters" role="search" aria-label="Filter events">
        <label><input type="checkbox" checked={warningsOnly.value} onChange={(e) => { warningsOnly.value = (e.target as HTMLInputElement).checked; }} /> Warnings only</label>
        <label>Search <input type="search" aria-label="Search events" value={text.value} onInput={(e) => { text.value = (e.target as HTMLInputElement).value; }} /></label>
      </div>
      <EventTable project={project} label="Events" filter={{ warningsOnly: warningsOnly.value, text: text.value }} />
    </section>
  );
}

export const eventsPage: Page = { path: '/events', title: 'Events', nav: { label: 'Events', section: 'Audit', order: 20 }, component: Events };
