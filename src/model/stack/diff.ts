/** Field-by-field differences between what is stored and what a file asks for. */

export interface Change {
  path: string;
  op: '+' | '-' | '~';
  from?: unknown;
  to?: unknown;
}

/** Flattens objects into dotted paths (arrays of scalars stay whole, so a list reads as one value). */
export function flatten(v: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const keys = Object.keys(v);
    if (keys.length === 0 && prefix) out.set(prefix, {});
    for (const k of keys) flatten((v as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k, out);
  } else if (Array.isArray(v) && v.some((x) => x && typeof x === 'object')) {
    v.forEach((x, i) => flatten(x, `${prefix}[${i}]`, out));
    if (v.length === 0) out.set(prefix, []);
  } else {
    out.set(prefix, v);
  }
  return out;
}

export function diff(before: unknown, after: unknown): Change[] {
  const a = flatten(before);
  const b = flatten(after);
  const out: Change[] = [];
  for (const [path, to] of b) {
    if (!a.has(path)) out.push({ path, op: '+', to });
    else if (JSON.stringify(a.get(path)) !== JSON.stringify(to)) out.push({ path, op: '~', from: a.get(path), to });
  }
  for (const [path, from] of a) if (!b.has(path)) out.push({ path, op: '-', from });
  return out.sort((x, y) => x.path.localeCompare(y.path));
}

/** What of an object a user controls: labels, annotations, spec. */
export function userPart(o: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: unknown } | undefined): unknown {
  if (!o) return undefined;
  return { metadata: { labels: o.metadata.labels ?? {}, annotations: o.metadata.annotations ?? {} }, spec: o.spec };
}

export function showChange(c: Change): string {
  const v = (x: unknown) => {
    const s = JSON.stringify(x);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  };
  if (c.op === '+') return `+ ${c.path}: ${v(c.to)}`;
  if (c.op === '-') return `- ${c.path}: ${v(c.from)}`;
  return `~ ${c.path}: ${v(c.from)} → ${v(c.to)}`;
}
