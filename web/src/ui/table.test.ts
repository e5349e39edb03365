import { describe, expect, it } from 'vitest';
import { pageOf, sortRows, type Column } from './table.js';

interface Row { name: string; n: number }
const columns: Column<Row>[] = [
  { key: 'name', header: 'Name', cell: (r) => r.name, sortValue: (r) => r.name },
  { key: 'n', header: 'N', cell: (r) => String(r.n), sortValue: (r) => r.n },
  { key: 'x', header: 'X', cell: () => '' },
];
const rows: Row[] = [{ name: 'b', n: 2 }, { name: 'a', n: 2 }, { name: 'c', n: 1 }];

describe('DataTable', () => {
  it('sorts by a column, both ways, keeping ties in order', () => {
    expect(sortRows(rows, columns, { key: 'name', dir: 'asc' }).map((r) => r.name)).toEqual(['a', 'b', 'c']);
    expect(sortRows(rows, columns, { key: 'n', dir: 'asc' }).map((r) => r.name)).toEqual(['c', 'b', 'a']);
    expect(sortRows(rows, columns, { key: 'n', dir: 'desc' }).map((r) => r.name)).toEqual(['b', 'a', 'c']);
    expect(sortRows(rows, columns, { key: 'x', dir: 'asc' })).toBe(rows);
  });

  it('shows one page of rows, clamped to the pages there are', () => {
    const many = Array.from({ length: 10_001 }, (_, i) => i);
    expect(pageOf(many, 0, 50)).toMatchObject({ page: 0, pages: 201, rows: many.slice(0, 50) });
    expect(pageOf(many, 200, 50).rows).toEqual([10_000]);
    expect(pageOf(many, 999, 50).page).toBe(200);
    expect(pageOf([], 3, 50)).toEqual({ rows: [], page: 0, pages: 1 });
  });
});
