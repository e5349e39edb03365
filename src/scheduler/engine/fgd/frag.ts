/**
 * GPU fragmentation of one node for a target workload, after Weng et al. (ATC '23, §4), with
 * one refinement. For a typical shape m (frequency p_m) and a node with `total` free
 * thousandths of GPU:
 *
 *   one-shot  f₁(node, m) = total                       if m cannot run on the node even once
 *                                                       (CPU, memory, or too few devices with room);
 *                         = Σ free on devices that      otherwise (the paper's definition)
 *                           cannot serve m
 *   saturated f₂(node, m) = total − c·gpu(m)            c = how many copies of m the node could
 *                                                       still take: min(⌊Σ_d ⌊free_d/milli⌋ / count⌋,
 *                                                       ⌊cpu/cpu(m)⌋, ⌊memory/memory(m)⌋)
 *   f = (f₁ + f₂) / 2,       F(node) = Σ_m p_m · f(node, m)
 *
 * f₂ ≥ f₁ always: it also counts what is left over once m has filled the node (a 470 share on a
 * free device strands 60; a 1-GPU shape on a node with 8 free devices but CPU for 3 strands 5
 * GPUs). Averaging keeps f₁'s strong preference for leaving free devices whole. Measured on the
 * openb traces, the mix beats either alone.
 *
 * Shapes without GPUs can use no GPU whatever the node, so they add the same amount to every
 * placement's change and are left out. All quantities are thousandths of a GPU.
 *
 * NodeFrag keeps per-shape counts, so F after a placement (a few devices change, CPU and memory
 * shrink) costs O(shapes × devices changed) instead of O(shapes × devices).
 */
import { modelAllowed } from '../gpu.js';
import type { TypicalShape } from './workload.js';

/** A node's free resources. */
export interface FragState {
  readonly cpu: number;
  readonly memory: number;
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

/** Per-shape device counts: devices that could serve m, room stranded for m, copies of m by GPU. */
interface Counts {
  usable: number;
  stranded: number;
  units: number;
}

/** f(node, m) = (f₁ + f₂) / 2 from the counts (see the file comment). */
export function shapeFrag(cpu: number, memory: number, m: TypicalShape, c: Counts, total: number): number {
  if (cpu < m.cpu || memory < m.memory || c.usable < m.gpuCount) return total;
  let copies = Math.floor(c.units / m.gpuCount);
  if (m.cpu > 0) copies = Math.min(copies, Math.floor(cpu / m.cpu));
  if (m.memory > 0) copies = Math.min(copies, Math.floor(memory / m.memory));
  const saturated = total - copies * m.gpuCount * m.gpuMilli;
  return (c.stranded + saturated) / 2;
}

function allowed(m: TypicalShape, model: string): boolean {
  return m.gpuModels === undefined || modelAllowed(model, m.gpuModels);
}

export class NodeFrag {
  private shapes: readonly TypicalShape[] = [];
  private usable = new Int32Array(0);
  private stranded = new Float64Array(0);
  private units = new Int32Array(0);
  private total = 0;
  private state!: FragState;
  private readonly scratch: Counts = { usable: 0, stranded: 0, units: 0 };
  /** F of the node as loaded. */
  value = 0;

  /** Loads a node state and computes F for `shapes` (GPU shapes only count). */
  load(s: FragState, shapes: readonly TypicalShape[]): number {
    this.state = s;
    this.shapes = shapes;
    if (this.usable.length < shapes.length) {
      this.usable = new Int32Array(shapes.length);
      this.stranded = new Float64Array(shapes.length);
      this.units = new Int32Array(shapes.length);
    }
    this.total = 0;
    for (const f of s.free) this.total += pos(f);
    let value = 0;
    for (let k = 0; k < shapes.length; k++) {
      const m = shapes[k]!;
      if (m.gpuCount === 0) continue;
      const c = this.scratch;
      c.usable = c.stranded = c.units = 0;
      for (let i = 0; i < s.free.length; i++) {
        const f = s.free[i]!;
        if (f <= 0) continue;
        const ok = allowed(m, s.models[i]!);
        if (ok) c.units += Math.floor(f / m.gpuMilli);
        if (ok && f >= m.gpuMilli) c.usable++;
        else c.stranded += f;
      }
      this.usable[k] = c.usable;
      this.stranded[k] = c.stranded;
      this.units[k] = c.units;
      value += m.p * shapeFrag(s.cpu, s.memory, m, c, this.total);
    }
    this.value = value;
    return value;
  }

  /** F after taking `cpu` and `memory` and changing devices as `changes` says. */
  after(cpu: number, memory: number, changes: readonly DeviceChange[]): number {
    const s = this.state;
    let total = this.total;
    for (const ch of changes) total += pos(ch.after) - pos(ch.before);
    if (total <= 0) return 0;
    const cpuLeft = s.cpu - cpu;
    const memLeft = s.memory - memory;
    const c = this.scratch;
    let value = 0;
    for (let k = 0; k < this.shapes.length; k++) {
      const m = this.shapes[k]!;
      if (m.gpuCount === 0) continue;
      c.usable = this.usable[k]!;
      c.stranded = this.stranded[k]!;
      c.units = this.units[k]!;
      for (const ch of changes) {
        const ok = allowed(m, s.models[ch.device]!);
        if (ok) c.units += Math.floor(pos(ch.after) / m.gpuMilli) - Math.floor(pos(ch.before) / m.gpuMilli);
        if (ok && ch.before >= m.gpuMilli) c.usable--;
        else c.stranded -= pos(ch.before);
        if (ok && ch.after >= m.gpuMilli) c.usable++;
        else c.stranded += pos(ch.after);
      }
      value += m.p * shapeFrag(cpuLeft, memLeft, m, c, total);
    }
    return value;
  }
}

/** F(node) from scratch (tests and one-off checks). */
export function fragOf(s: FragState, shapes: readonly TypicalShape[]): number {
  return new NodeFrag().load(s, shapes);
}
