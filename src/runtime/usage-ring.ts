/**
 * A fixed-capacity ring of numeric points stored in columns (typed arrays): its memory is set at
 * creation (capacity × the columns' widths) and never grows, whatever is pushed. An absent value
 * is NaN. Pure; no I/O.
 */

/** Columns by name: 'f64' for times and cumulative counters (exact up to 2^53), 'f32' for gauges. */
export type Columns = Record<string, 'f64' | 'f32'>;

export class ColumnRing<C extends Columns> {
  private readonly data: { [K in keyof C]: Float64Array | Float32Array };
  private head = 0;
  private size = 0;

  constructor(readonly capacity: number, columns: C) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`a ring needs a capacity of at least 1, not ${capacity}`);
    const data = {} as { [K in keyof C]: Float64Array | Float32Array };
    for (const [name, width] of Object.entries(columns) as [keyof C, 'f64' | 'f32'][]) {
      data[name] = width === 'f64' ? new Float64Array(capacity) : new Float32Array(capacity);
    }
    this.data = data;
  }

  get length(): number {
    return this.size;
  }

  /** Appends a point (a missing column is NaN); the oldest is dropped when full. */
  push(point: { [K in keyof C]?: number }): void {
    const i = (this.head + this.size) % this.capacity;
    for (const name of Object.keys(this.data) as (keyof C)[]) this.data[name][i] = point[name] ?? NaN;
    if (this.size < this.capacity) this.size++;
    else this.head = (this.head + 1) % this.capacity;
  }

  /** The value of `column` in the i-th point, oldest first (0 ≤ i < length). */
  at(i: number, column: keyof C): number {
    return this.data[column][(this.head + i) % this.capacity]!;
  }

  /** The index of the first point whose `column` is ≥ `min` (columns such as a time only grow), or length. */
  firstFrom(column: keyof C, min: number): number {
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.at(mid, column) >= min) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** The points from index `from` on, oldest first, as objects (NaN columns left out). */
  slice(from = 0): { [K in keyof C]?: number }[] {
    const out: { [K in keyof C]?: number }[] = [];
    for (let i = Math.max(0, from); i < this.size; i++) {
      const point: { [K in keyof C]?: number } = {};
      for (const name of Object.keys(this.data) as (keyof C)[]) {
        const v = this.at(i, name);
        if (!Number.isNaN(v)) point[name] = v;
      }
      out.push(point);
    }
    return out;
  }

  /** Bytes its columns hold. */
  get bytes(): number {
    let n = 0;
    for (const a of Object.values(this.data)) n += a.byteLength;
    return n;
  }
}
