/**
 * CSV as RFC 4180 writes it, safe to open in a spreadsheet:
 *   - a cell holding a comma, a double quote, CR or LF is quoted, its quotes doubled, so a label
 *     value cannot add a column or a row;
 *   - a text cell starting with =, +, -, @, a tab or CR is prefixed with a single quote (') so a
 *     spreadsheet shows it as text instead of running it as a formula (CSV injection, OWASP's
 *     advice). Numbers are written as numbers, untouched. Readers that want the raw text back
 *     drop a leading ' before one of those characters.
 * Lines end with CRLF, as the RFC says.
 */
export type Cell = string | number | undefined;

const FORMULA_START = /^[=+\-@\t\r]/;

/** One cell, quoted and neutralised as needed. */
export function csvCell(v: Cell): string {
  if (v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  const text = FORMULA_START.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The header line and the rows, CRLF after each line. */
export function toCsv(header: readonly string[], rows: Iterable<readonly Cell[]>): string {
  const out = [header.map(csvCell).join(',')];
  for (const r of rows) out.push(r.map(csvCell).join(','));
  return out.join('\r\n') + '\r\n';
}

/** Parses CSV as toCsv writes it (quoted cells, doubled quotes, CRLF or LF): for tests and tools. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell !== '' || row.length > 0) rows.push([...row, cell]);
  return rows;
}
