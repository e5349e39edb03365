/**
 * GPU fragmentation of one node for a target workload, as Weng et al. define it (ATC '23, §4) and
 * their simulator computes it. For a typical shape m (frequency p_m) and a node with `total` free
 * thousandths of GPU:
 *
 *   f(node, m) = total                      if m asks for no GPU (a task without GPUs can use
 *                                           none of the free GPU: all of it is a fragment for it),
 *                                           or the node lacks CPU for m, or fewer than count(m)
 *                                           devices of an allowed model have milli(m) free;
 *              = Σ free on devices that     otherwise (m could run: the devices it cannot use
 *                cannot serve m             are the fragment)
 *
 *   F(node) = Σ_m p_m · f(node, m)
 *
 * Memory plays no part (the paper's shapes have none). "Cannot serve m": less than milli(m) free,
 * or a model m may not use. All quantities are thousandths of a GPU.
 *
 * The `cpu-aware` measure (policy fgd-cpu, not the paper's) also counts the GPU the node's CPU
 * leaves stranded: where m could run, it averages the paper's value with
 *
 *   s(node, m) = total − c · gpu(m),   c = min(⌊total / gpu(m)⌋, ⌊cpu / cpu(m)⌋)
 *
 * the GPU left over once copies of m have taken the node's GPU or its CPU, whichever runs out
 * first (a node with 8 free GPUs and CPU for 3 one-GPU tasks of m strands 5).
 *
 * NodeFrag keeps per-shape counts, so F after a placement (a few devices change, CPU shrinks)
 * costs O(shapes × devices changed) instead of O(shapes × devices).
 */
import { modelAllowed } from '../gpu.js';
import type { TypicalShape } from './workload.js';

/** A node's free resources. */
export interface FragState {
  readonly cpu: number;
  /** Free thousandths per device. */
  readonly free: readonly number[];
  /** Model per device. */
  readonly models: readonly string[];
}

/** One device's free room before and after a placement. */
export interface DeviceChange {
  readonly device: number;
  readonly before: number;
  readonly after: number;
}

const pos = (x: number) => (x > 0 ? x : 0);

/** How fragmentation is measured: the paper's, or with the GPU stranded by CPU (see above). */
export type FragMeasure = 'paper' | 'cpu-aware';

/** f(node, m) from m's counts: devices that could serve m, and the free room of those that cannot. */
export function shapeFrag(cpu: number, m: TypicalShape, usable: number, stranded: number, total: number, measure: FragMeasure = 'paper'): number {
  if (m.gpuCount === 0 || cpu < m.cpu || usable < m.gpuCount) return total;
  if (measure === 'paper') return stranded;
  const gpu = m.gpuCount * m.gpuMilli;
  const copies = m.cpu > 0 ? Math.min(Math.floor(total / gpu), Math.floor(cpu / m.cpu)) : Math.floor(total / gpu);
  return (stranded + total - copies * gpu) / 2;
}

function allowed(m: TypicalShape, model: string): boolean {
  return m.gpuModels === undefined || modelAllowed(model, m.gpuModels);
}

export class NodeFrag {
  constructor(private readonly measure: FragMeasure = 'paper') {}

  private shapes: readonly TypicalShape[] = [];
  private usable = new Int32Array(0);
  private stranded = new Float64Array(0);
  private total = 0;
  private state!: FragState;
  /** F of the node as loaded. */
  value = 0;

  /** Loads a node state and computes F for `shapes`. */
  load(s: FragState, shapes: readonly TypicalShape[]): number {
    this.state = s;
    this.shapes = shapes;
    if (this.usable.length < shapes.length) {
      this.usable = new Int32Array(shapes.length);
      this.stranded = new Float64Array(shapes.length);
    }
    this.total = 0;
    for (const f of s.free) this.total += pos(f);
    let value = 0;
    for (let k = 0; k < shapes.length; k++) {
      const m = shapes[k]!;
      let usable = 0;
      let stranded = 0;
      for (let i = 0; i < s.free.length; i++) {
        const f = s.free[i]!;
        if (f <= 0) continue;
        if (m.gpuCount > 0 && f >= m.gpuMilli && allowed(m, s.models[i]!)) usable++;
        else stranded += f;
      }
      this.usable[k] = usable;
      this.stranded[k] = stranded;
      value += m.p * shapeFrag(s.cpu, m, usable, stranded, this.total, this.measure);
    }
    this.value = value;
    return value;
  }

  /** F after taking `cpu` and changing devices as `changes` says. */
  after(cpu: number, changes: readonly DeviceChange[]): number {
    const s = this.state;
    let total = this.total;
    for (const ch of changes) total += pos(ch.after) - pos(ch.before);
    const cpuLeft = s.cpu - cpu;
    let value = 0;
    for (let k = 0; k < this.shapes.length; k++) {
      const m = this.shapes[k]!;
      let usable = this.usable[k]!;
      let stranded = this.stranded[k]!;
      for (const ch of changes) {
        const ok = m.gpuCount > 0 && allowed(m, s.models[ch.device]!);
        if (ok && ch.before >= m.gpuMilli) usable--;
        else stranded -= pos(ch.before);
        if (ok && ch.after >= m.gpuMilli) usable++;
        else stranded += pos(ch.after);
      }
      value += m.p * shapeFrag(cpuLeft, m, usable, stranded, total, this.measure);
    }
    return value;
  }
}

/** F(node) from scratch (tests and one-off checks). */
export function fragOf(s: FragState, shapes: readonly TypicalShape[], measure: FragMeasure = 'paper'): number {
  return new NodeFrag(measure).load(s, shapes);
}
