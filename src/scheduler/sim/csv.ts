/**
 * Strict CSV reading: a header row naming the columns, then one record per line, every record
 * with as many fields as the header. Fields may be quoted ("a,b", "say ""hi"""); quoted fields
 * cannot span lines. Any problem is a CsvError naming the file, line and column.
 */

export class CsvError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: string | undefined,
    readonly problem: string,
  ) {
    super(`${file}:${line}: ${column !== undefined ? `column ${column}: ` : ''}${problem}`);
    this.name = 'CsvError';
  }
}

/** One record: the value of each header column, and where it came from. */
export interface CsvRecord {
  readonly line: number;
  /** The field of `column`; '' for a column the header does not have (only optional ones can be absent). */
  get(column: string): string;
}

function splitLine(text: string, file: string, line: number): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new CsvError(file, line, undefined, 'a quoted field is not closed');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
      if (i < text.length && text[i] !== ',') throw new CsvError(file, line, undefined, `unexpected ${JSON.stringify(text[i])} after a quoted field`);
    } else {
      const end = text.indexOf(',', i);
      field = text.slice(i, end < 0 ? text.length : end);
      if (field.includes('"')) throw new CsvError(file, line, undefined, `a quote inside an unquoted field: ${JSON.stringify(field)}`);
      i = end < 0 ? text.length : end;
    }
    fields.push(field);
    if (i >= text.length) return fields;
    i++; // the comma
  }
}

/**
 * Parses `text` (the contents of `file`), requiring every column in `required`.
 * Blank lines are skipped; a trailing newline is fine.
 */
export function parseCsv(text: string, file: string, required: readonly string[]): CsvRecord[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const headerIndex = lines.findIndex((l) => l.trim() !== '');
  if (headerIndex < 0) throw new CsvError(file, 1, undefined, 'the file is empty (expected a header row)');
  const header = splitLine(lines[headerIndex]!, file, headerIndex + 1).map((h) => h.trim());
  const index = new Map<string, number>();
  header.forEach((h, i) => {
    if (index.has(h)) throw new CsvError(file, headerIndex + 1, h, 'is named twice in the header');
    index.set(h, i);
  });
  const missing = required.filter((c) => !index.has(c));
  if (missing.length > 0) {
    throw new CsvError(file, headerIndex + 1, missing[0], `is missing from the header (expected ${required.join(',')}; found ${header.join(',')})`);
  }
  const out: CsvRecord[] = [];
  for (let n = headerIndex + 1; n < lines.length; n++) {
    const raw = lines[n]!;
    if (raw.trim() === '') continue;
    const line = n + 1;
    const fields = splitLine(raw, file, line);
    if (fields.length !== header.length) {
      throw new CsvError(file, line, undefined, `has ${fields.length} fields, the header has ${header.length}`);
    }
    const get = (column: string): string => {
      const i = index.get(column);
      return i === undefined ? '' : fields[i]!;
    };
    out.push({ line, get });
  }
  return out;
}

/** A whole number in [min, max] from `record`'s `column`, or a CsvError. */
export function intField(record: CsvRecord, column: string, file: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const text = record.get(column).trim();
  if (!/^-?\d+$/.test(text)) throw new CsvError(file, record.line, column, `${JSON.stringify(text)} is not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw new CsvError(file, record.line, column, `${n} is out of range (${min} to ${max})`);
  return n;
}
