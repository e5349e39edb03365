/**
 * A table of many rows that renders only the page on screen (50 rows by default): sortable
 * headers (buttons with aria-sort), "Previous page" / "Next page" buttons and a live status
 * line ("1–50 of 10,000"). Sorting and paging are pure functions of the rows (sortRows, pageOf).
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';

export interface Column<T> {
  key: string;
  header: string;
  cell: (row: T) => ComponentChildren;
  /** The value sorted by; absent: the column does not sort. */
  sortValue?: (row: T) => string | number;
}

export interface SortState { key: string; dir: 'asc' | 'desc' }

/** `rows` sorted by `sort` (stable; ties keep their order). */
export function sortRows<T>(rows: T[], columns: Column<T>[], sort: SortState | undefined): T[] {
  const col = sort && columns.find((c) => c.key === sort.key);
  if (!sort || !col?.sortValue) return rows;
  const get = col.sortValue;
  const sign = sort.dir === 'asc' ? 1 : -1;
  const keyed = rows.map((r, i) => ({ r, i, v: get(r) }));
  keyed.sort((a, b) => (a.v < b.v ? -sign : a.v > b.v ? sign : a.i - b.i));
  return keyed.map((k) => k.r);
}

/** Page `page` (0-based, clamped) of `rows`, and the clamped page number. */
export function pageOf<T>(rows: T[], page: number, size: number): { rows: T[]; page: number; pages: number } {
  const pages = Math.max(1, Math.ceil(rows.length / size));
  const p = Math.min(Math.max(0, page), pages - 1);
  return { rows: rows.slice(p * size, p * size + size), page: p, pages };
}

export function DataTable<T>(props: {
  label: string;
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T) => string;
  pageSize?: number;
  initialSort?: SortState;
  empty?: string;
}) {
  const size = props.pageSize ?? 50;
  const [sort, setSort] = useState<SortState | undefined>(props.initialSort);
  const [page, setPage] = useState(0);
  const sorted = sortRows(props.rows, props.columns, sort);
  const shown = pageOf(sorted, page, size);
  const first = props.rows.length === 0 ? 0 : shown.page * size + 1;
  const last = shown.page * size + shown.rows.length;
  const toggle = (key: string) => setSort(sort?.key === key && sort.dir === 'asc' ? { key, dir: 'desc' } : { key, dir: 'asc' });
  return (
    <div class="table-wrap">
      <table aria-label={props.label}>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th key={c.key} scope="col" aria-sort={sort?.key === c.key ? (sort.dir === 'asc' ? 'ascending' : 'descending') : undefined}>
                {c.sortValue ? <button type="button" class="sort" onClick={() => toggle(c.key)}>{c.header}<span aria-hidden="true">{sort?.key === c.key ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : ''}</span></button> : c.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {shown.rows.map((r) => <tr key={props.rowKey(r)}>{props.columns.map((c) => <td key={c.key}>{c.cell(r)}</td>)}</tr>)}
          {props.rows.length === 0 && <tr><td colSpan={props.columns.length} class="empty">{props.empty ?? 'Nothing here yet.'}</td></tr>}
        </tbody>
      </table>
      {shown.pages > 1 ? (
        <nav class="pager" aria-label={`${props.label} pages`}>
          <button type="button" disabled={shown.page === 0} onClick={() => setPage(shown.page - 1)}>Previous page</button>
          <span role="status">{first}–{last} of {props.rows.length.toLocaleString('en-US')}</span>
          <button type="button" disabled={shown.page >= shown.pages - 1} onClick={() => setPage(shown.page + 1)}>Next page</button>
        </nav>
      ) : null}
    </div>
  );
}
