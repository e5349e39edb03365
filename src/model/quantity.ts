/**
 * Resource quantities. Users write strings such as `500m`, `2`, `512Mi`, `2Gi`; Stratus stores
 * integers in canonical units: CPU in millicores, memory and disk in MiB.
 *
 * A JSON number is already in the canonical unit (what `get -o yaml` prints), so objects read
 * from the API can be applied again unchanged. A string is a human quantity:
 *   cpu:    "500m" → 500, "2" → 2000 (cores), "0.25" → 250
 *   memory: "512Mi" → 512, "2Gi" → 2048, "1G" → 954 (decimal units round up), "64" → 64 (MiB)
 */
import { showValue } from './errors.js';

export type QuantityKind = 'cpu' | 'mebibytes';

const BINARY: Record<string, number> = { Ki: 1 / 1024, Mi: 1, Gi: 1024, Ti: 1024 * 1024, Pi: 1024 ** 3 };
const DECIMAL: Record<string, number> = { k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15 };
const MIB = 1024 * 1024;

/** Largest value any quantity may take; keeps arithmetic exact in doubles. */
export const MAX_QUANTITY = 2 ** 40;

const CPU_RE = /^(\d+(?:\.\d+)?)(m?)$/;
const MEM_RE = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|k|K|M|G|T|P)?$/;

export const CPU_PATTERN = '^\\d+(\\.\\d+)?m?$';
export const MEBIBYTES_PATTERN = '^\\d+(\\.\\d+)?(Ki|Mi|Gi|Ti|Pi|k|K|M|G|T|P)?$';

export class QuantityError extends Error {}

/** Parses a CPU quantity into millicores. Throws QuantityError with a readable message. */
export function parseCpu(input: unknown): number {
  if (typeof input === 'number') return checkInteger(input, 'millicores');
  if (typeof input !== 'string') throw new QuantityError(`${showValue(input)} is not a CPU quantity (use e.g. "500m" or "2")`);
  const m = CPU_RE.exec(input.trim());
  if (!m) throw new QuantityError(`${showValue(input)} is not a CPU quantity (use e.g. "500m" for half a core or "2" for two cores)`);
  const n = Number(m[1]);
  const milli = m[2] === 'm' ? n : n * 1000;
  if (!Number.isInteger(milli)) throw new QuantityError(`${showValue(input)} is finer than one millicore`);
  return checkRange(milli, input);
}

/** Parses a memory or disk quantity into MiB, rounding up to a whole MiB. */
export function parseMebibytes(input: unknown): number {
  if (typeof input === 'number') return checkInteger(input, 'MiB');
  if (typeof input !== 'string') throw new QuantityError(`${showValue(input)} is not a size (use e.g. "512Mi" or "2Gi")`);
  const m = MEM_RE.exec(input.trim());
  if (!m) throw new QuantityError(`${showValue(input)} is not a size (use e.g. "512Mi" or "2Gi")`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'Mi';
  const mib = unit in BINARY ? n * BINARY[unit]! : (n * DECIMAL[unit]!) / MIB;
  return checkRange(Math.ceil(mib - 1e-9), input);
}

export function parseQuantity(kind: QuantityKind, input: unknown): number {
  return kind === 'cpu' ? parseCpu(input) : parseMebibytes(input);
}

function checkInteger(n: number, unit: string): number {
  if (!Number.isInteger(n) || n < 0) throw new QuantityError(`${n} is not a whole, non-negative number of ${unit}`);
  return checkRange(n, n);
}

function checkRange(n: number, input: unknown): number {
  if (n > MAX_QUANTITY) throw new QuantityError(`${showValue(input)} is larger than the maximum ${MAX_QUANTITY}`);
  return n;
}

/** Renders millicores the way people write them: 2000 → "2", 1500 → "1500m". */
export function formatCpu(milli: number): string {
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

/** Renders MiB compactly: 2048 → "2Gi", 1536 → "1536Mi". */
export function formatMebibytes(mib: number): string {
  if (mib !== 0 && mib % (1024 * 1024) === 0) return `${mib / (1024 * 1024)}Ti`;
  if (mib !== 0 && mib % 1024 === 0) return `${mib / 1024}Gi`;
  return `${mib}Mi`;
}
