/**
 * Stored objects as text. The repository stores each object as `JSON.stringify(obj)` without
 * `metadata.revision` (the store tracks it); a read decodes it and sets the revision, and the API
 * encodes it again. A read that hands the object on unchanged can instead splice the revision into
 * the stored text: `withRevision(value, rev)` is byte for byte `JSON.stringify(decode(value, rev))`
 * (a decoded object gets `revision` as the last key of its metadata), at the cost of one scan of
 * the text up to the end of the metadata instead of a parse and a stringify of the whole object.
 *
 * The scans only accept what JSON.stringify writes (no whitespace); anything else answers
 * undefined and the caller decodes the object the ordinary way.
 */
import type { StoredObject } from '../model/kind.js';

/**
 * One stored object, read lazily: `json` is its text with the revision (spliced, no parse),
 * `metadata` parses only the metadata, `spec` and `decode()` the whole object. Shaped like a
 * StoredObject for checks that read `metadata` and `spec` (authorization, label selectors).
 */
export class StoredText {
  private span: { start: number; end: number } | undefined | null = null;
  private meta: StoredObject['metadata'] | undefined;
  private whole: StoredObject | undefined;

  constructor(readonly key: string, private readonly value: string, readonly revision: number) {}

  /** Exactly `JSON.stringify(this.decode())`. */
  get json(): string {
    return withRevision(this.value, this.revision, this.metaSpan()) ?? JSON.stringify(this.decode());
  }

  get metadata(): StoredObject['metadata'] {
    if (this.meta) return this.meta;
    const span = this.metaSpan();
    const meta = span ? (JSON.parse(this.value.slice(span.start, span.end)) as StoredObject['metadata']) : this.decode().metadata;
    meta.revision = this.revision;
    return (this.meta = meta);
  }

  get spec(): unknown {
    return this.decode().spec;
  }

  /** The whole object, parsed once (callers must not change it). */
  decode<T extends StoredObject = StoredObject>(): T {
    if (!this.whole) {
      this.whole = JSON.parse(this.value) as StoredObject;
      this.whole.metadata.revision = this.revision;
    }
    return this.whole as T;
  }

  private metaSpan(): { start: number; end: number } | undefined {
    if (this.span === null) this.span = metadataSpan(this.value);
    return this.span;
  }
}

/** Where the top-level `"metadata"` object of `text` starts (its `{`) and ends (after its `}`). */
export function metadataSpan(text: string): { start: number; end: number } | undefined {
  if (text.charCodeAt(0) !== 0x7b /* { */) return undefined;
  let i = 1;
  while (i < text.length && text.charCodeAt(i) === 0x22 /* " */) {
    const keyEnd = skipString(text, i);
    if (keyEnd < 0 || text.charCodeAt(keyEnd) !== 0x3a /* : */) return undefined;
    const valueStart = keyEnd + 1;
    const valueEnd = skipValue(text, valueStart);
    if (valueEnd < 0) return undefined;
    if (keyEnd - i === 10 && text.startsWith('"metadata"', i)) {
      return text.charCodeAt(valueStart) === 0x7b ? { start: valueStart, end: valueEnd } : undefined;
    }
    if (text.charCodeAt(valueEnd) !== 0x2c /* , */) return undefined;
    i = valueEnd + 1;
  }
  return undefined;
}

/**
 * The stored text with `"revision":rev` as the last key of its metadata, or undefined when the
 * text is not in the shape the repository writes (or already names a revision in its metadata).
 */
export function withRevision(text: string, rev: number, span = metadataSpan(text)): string | undefined {
  if (!span || !Number.isSafeInteger(rev)) return undefined;
  const close = span.end - 1;
  const meta = text.slice(span.start, span.end);
  if (hasTopKey(meta, 'revision')) return undefined;
  const sep = close === span.start + 1 ? '' : ',';
  return `${text.slice(0, close)}${sep}"revision":${rev}${text.slice(close)}`;
}

/** Whether the JSON object text `obj` (JSON.stringify's output) has the top-level key `key`. */
function hasTopKey(obj: string, key: string): boolean {
  const quoted = `"${key}"`;
  let i = 1;
  while (i < obj.length && obj.charCodeAt(i) === 0x22) {
    const keyEnd = skipString(obj, i);
    if (keyEnd < 0) return true; // not understood: treat as present, the caller decodes instead
    if (obj.startsWith(quoted, i) && keyEnd - i === quoted.length) return true;
    const valueEnd = skipValue(obj, keyEnd + 1);
    if (valueEnd < 0) return true;
    i = valueEnd + 1;
  }
  return false;
}

/** Index after the string starting at `i` (a `"`), or -1. */
function skipString(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === 0x5c /* \ */) j++;
    else if (c === 0x22) return j + 1;
  }
  return -1;
}

/** Index after the JSON value starting at `i`, or -1. */
function skipValue(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 0x22) return skipString(text, i);
  if (c !== 0x7b && c !== 0x5b /* [ */) {
    let j = i;
    while (j < text.length && !isDelimiter(text.charCodeAt(j))) j++;
    return j > i ? j : -1;
  }
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const d = text.charCodeAt(j);
    if (d === 0x22) {
      j = skipString(text, j) - 1;
      if (j < 0) return -1;
    } else if (d === 0x7b || d === 0x5b) depth++;
    else if (d === 0x7d /* } */ || d === 0x5d /* ] */) {
      if (--depth === 0) return j + 1;
    }
  }
  return -1;
}

function isDelimiter(c: number): boolean {
  return c === 0x2c || c === 0x7d || c === 0x5d;
}
