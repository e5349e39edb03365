/** Route patterns (`/nodes/:name`) matched against paths. Pure. */

/** The parameters of `path` when it matches `pattern` (`:name` segments), else undefined. */
export function match(pattern: string, path: string): Record<string, string> | undefined {
  const ps = pattern.split('/').filter(Boolean);
  const xs = path.split('/').filter(Boolean);
  if (ps.length !== xs.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i]!;
    const x = xs[i]!;
    if (p.startsWith(':')) {
      try {
        params[p.slice(1)] = decodeURIComponent(x);
      } catch {
        return undefined;
      }
    } else if (p !== x) return undefined;
  }
  return params;
}
