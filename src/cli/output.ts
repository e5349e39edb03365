/** Printing objects: tables from each kind's columns, or JSON / YAML / names. */
import { yaml } from './yaml.js';
import type { Kind, StoredObject } from '../model/kind.js';
import { objectForPeople } from '../model/quantity-fields.js';
import { CliError } from './errors.js';

export const FORMATS = ['table', 'wide', 'json', 'yaml', 'name'] as const;
export type Format = (typeof FORMATS)[number];

export function checkFormat(f: string): Format {
  if (!(FORMATS as readonly string[]).includes(f)) throw new CliError(`-o ${f}: unknown output format (use one of: ${FORMATS.join(', ')})`, 2);
  return f as Format;
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/**
 * Objects as text. JSON and YAML show quantities as strings ("500m", "2Gi"), which `apply -f`
 * reads back as the same values (the API's integers are millicores and MiB; a number in a file is cores).
 */
export function formatObjects(kind: Kind, items: StoredObject[], format: Format, opts: { allProjects?: boolean; single?: boolean } = {}): string {
  switch (format) {
    case 'json': {
      const shown = items.map((o) => objectForPeople(kind, o));
      return JSON.stringify(opts.single ? shown[0] : { items: shown }, null, 2);
    }
    case 'yaml':
      return items.map((o) => yaml().stringify(objectForPeople(kind, o)).trimEnd()).join('\n---\n');
    case 'name':
      return items.map((o) => `${kind.kind}/${o.metadata.name}`).join('\n');
    default: {
      if (items.length === 0) return '';
      const cols = kind.columns.filter((c) => format === 'wide' || !c.wide);
      const headers = [...(opts.allProjects ? ['PROJECT'] : []), ...cols.map((c) => c.header)];
      const rows = items.map((o) => [...(opts.allProjects ? [o.metadata.project ?? ''] : []), ...cols.map((c) => clean(c.get(o as never)))]);
      return table(headers, rows);
    }
  }
}

/** One table row for a watched object (no header). */
export function formatRow(kind: Kind, obj: StoredObject, wide: boolean, allProjects: boolean, deleted = false): string[] {
  const cols = kind.columns.filter((c) => wide || !c.wide);
  const row = [...(allProjects ? [obj.metadata.project ?? ''] : []), ...cols.map((c) => clean(c.get(obj as never)))];
  if (deleted) {
    const state = cols.findIndex((c) => c.header === 'PHASE' || c.header === 'STATUS');
    const offset = allProjects ? 1 : 0;
    if (state >= 0) row[state + offset] = 'Deleted';
    else row[offset] = `${row[offset]} (deleted)`;
  }
  return row;
}

function clean(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ');
}

export function printLine(text: string): void {
  if (text !== '') process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}
