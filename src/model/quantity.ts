/**
 * Resource quantities. Users write `500m`, `2`, `512Mi`, `2Gi`; Stratus stores integers in
 * canonical units: CPU in millicores, memory and disk in MiB.
 *
 * One rule for what users write (specs, quotas, flags): a number means what the same digits mean
 * as a string.
 *   cpu:    "500m" → 500, "2" or 2 → 2000 (cores, as in Kubernetes), "0.25" or 0.25 → 250
 *   memory: "512Mi" → 512, "2Gi" → 2048, "1G" → 954 (decimal units round up),
 *           "64" or 64 → 64 (a plain number is MiB, as in Nomad; not bytes as in Kubernetes)
 * What the platform writes (node capacity in status) is already canonical: `parseCanonical*`.
 * The API returns canonical integers; the CLI prints quantity strings (`get -o yaml`), so its
 * output applies again unchanged (see quantity-fields.ts).
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

/** A plain size this large (1 PiB, in MiB) was most likely meant as bytes (Kubernetes' reading): refused with a hint. */
const BYTES_HINT_MIB = 2 ** 30;

/** Parses a CPU quantity into millicores; a number is cores. Throws QuantityError with a readable message. */
export function parseCpu(input: unknown): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new QuantityError(`${input} is not a CPU quantity (use a number of cores such as 2 or 0.5, or "500m")`);
    const milli = Math.round(input * 1000);
    if (Math.abs(milli - input * 1000) > 1e-6) throw new QuantityError(`${input} is finer than one millicore (a plain number is cores: 0.25 is 250m)`);
    return checkRange(milli, input);
  }
  if (typeof input !== 'string') throw new QuantityError(`${showValue(input)} is not a CPU quantity (use e.g. "500m" or "2")`);
  const m = CPU_RE.exec(input.trim());
  if (!m) throw new QuantityError(`${showValue(input)} is not a CPU quantity (use e.g. "500m" for half a core or "2" for two cores)`);
  const n = Number(m[1]);
  const milli = m[2] === 'm' ? n : n * 1000;
  if (!Number.isInteger(milli)) throw new QuantityError(`${showValue(input)} is finer than one millicore`);
  return checkRange(milli, input);
}

/** Parses a memory or disk quantity into MiB, rounding up to a whole MiB; a number is MiB. */
export function parseMebibytes(input: unknown): number {
  if (typeof input === 'number') return plainMebibytes(checkInteger(input, 'MiB'), input);
  if (typeof input !== 'string') throw new QuantityError(`${showValue(input)} is not a size (use e.g. "512Mi" or "2Gi")`);
  const m = MEM_RE.exec(input.trim());
  if (!m) throw new QuantityError(`${showValue(input)} is not a size (use e.g. "512Mi" or "2Gi")`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'Mi';
  const mib = unit in BINARY ? n * BINARY[unit]! : (n * DECIMAL[unit]!) / MIB;
  const out = checkRange(Math.ceil(mib - 1e-9) || 0, input); // || 0: not -0
  return m[2] === undefined ? plainMebibytes(out, input) : out;
}

function plainMebibytes(mib: number, input: unknown): number {
  if (mib >= BYTES_HINT_MIB) throw new QuantityError(`${showValue(input)} is ${formatMebibytes(mib)}: a plain number is MiB here (not bytes, as in Kubernetes); write the unit, e.g. "512Mi" or "2Gi"`);
  return mib;
}

export function parseQuantity(kind: QuantityKind, input: unknown): number {
  return kind === 'cpu' ? parseCpu(input) : parseMebibytes(input);
}

/** Millicores as the platform writes them: a number is already millicores; a string is parsed. */
export function parseCanonicalCpu(input: unknown): number {
  return typeof input === 'number' ? checkInteger(input, 'millicores') : parseCpu(input);
}

/** MiB as the platform writes them: a number is already MiB; a string is parsed. */
export function parseCanonicalMebibytes(input: unknown): number {
  return typeof input === 'number' ? checkInteger(input, 'MiB') : parseMebibytes(input);
}

/** The quantity string of a canonical integer ("500m", "2Gi"), which parses back to it. */
export function formatQuantity(kind: QuantityKind, n: number): string {
  return kind === 'cpu' ? formatCpu(n) : formatMebibytes(n);
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
