/** Small formatting helpers shared by the pages (for people: 1.5 GiB, not the canonical 1536Mi). Pure. */

/** "3s", "5m", "2h", "4d" since a time: the CLI's own (model/format.ts). */
export { age } from '../../../src/model/format.js';

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
  if (n === 1000) return '1 core';
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
