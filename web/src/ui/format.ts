/** Small formatting helpers shared by the pages. Pure. */

/** "3 minutes ago" style age of an RFC 3339 time, relative to `now`. */
export function age(time: string | undefined, now = Date.now()): string {
  if (!time) return '';
  const s = Math.max(0, Math.round((now - Date.parse(time)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** Labels as "k=v, k2=v2". */
export function labelText(labels: Record<string, string> | undefined): string {
  return Object.entries(labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
}

/** Mebibytes as "512 MiB" / "2.0 GiB". */
export function mib(n: number | undefined): string {
  if (n === undefined) return '';
  return n >= 1024 ? `${(n / 1024).toFixed(1)} GiB` : `${Math.round(n)} MiB`;
}

/** Millicores as "250m" / "2 cores". */
export function millicores(n: number | undefined): string {
  if (n === undefined) return '';
  return n % 1000 === 0 ? `${n / 1000} cores` : n >= 1000 ? `${(n / 1000).toFixed(2)} cores` : `${n}m`;
}

/** Thousands separated: 10000 → "10,000". */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** Appends `chunk` to `lines` (whose last element is the unfinished line), keeping the last `max`. */
export function appendLines(lines: string[], chunk: string, max = 5000): string[] {
  const parts = chunk.split('\n');
  const out = lines.length ? [...lines.slice(0, -1), lines[lines.length - 1]! + parts[0]!, ...parts.slice(1)] : parts;
  return out.length > max ? out.slice(out.length - max) : out;
}

/** Terminal output as plain text: escape sequences (colours, cursor moves) and carriage returns dropped. */
export function plainText(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>NOMDEHc78]|\r/g, '');
}
