/**
 * GPU accounting helpers, device by device. A whole-GPU demand needs `gpuCount` devices that are
 * completely free; a share needs one device with at least `gpuMilli` thousandths free. Only
 * devices of an allowed model count.
 */
import { MILLI, type NodeState } from './node-state.js';
import { FITS, unresolvable, unschedulable, type Demand, type FilterResult, type GpuSlice } from './types.js';

export function modelAllowed(model: string, models: readonly string[] | undefined): boolean {
  return models === undefined || models.includes(model);
}

/** Whether `node` has enough devices of an allowed model for `d` at all (evictions cannot change this). */
export function gpuCapacityVerdict(node: NodeState, d: Demand): FilterResult {
  if (d.gpuCount === 0) return FITS;
  if (node.gpuCount === 0) return unresolvable(d.gpuModels ? noModel(d.gpuModels) : 'no GPUs');
  let allowed = 0;
  for (let i = 0; i < node.gpuCount; i++) if (modelAllowed(node.gpuModel[i]!, d.gpuModels)) allowed++;
  if (allowed === 0) return unresolvable(noModel(d.gpuModels!));
  if (allowed < d.gpuCount) return unresolvable('insufficient GPU');
  return FITS;
}

const GPU_FULL = unschedulable('insufficient GPU');

/** Whether enough allowed devices have room for `d`, given free thousandths `free` per device. */
export function gpuFreeVerdict(node: NodeState, d: Demand, free: readonly number[] = node.gpuFree): FilterResult {
  if (d.gpuCount === 0) return FITS;
  let usable = 0;
  for (let i = 0; i < free.length; i++) {
    if (free[i]! >= d.gpuMilli && modelAllowed(node.gpuModel[i]!, d.gpuModels) && ++usable >= d.gpuCount) return FITS;
  }
  return GPU_FULL;
}

function noModel(models: readonly string[]): string {
  return `no GPU of model ${models.join('|')}`;
}

/**
 * Default device choice. Share: the allowed device with the least free room that still fits
 * (best fit; lowest position on ties). Whole GPUs: the lowest allowed, completely free devices.
 * Undefined when the demand does not fit.
 */
export function bestFitDevices(node: NodeState, d: Demand, free: readonly number[] = node.gpuFree): number[] | undefined {
  if (d.gpuCount === 0) return [];
  if (d.gpuMilli < MILLI) {
    let best = -1;
    for (let i = 0; i < free.length; i++) {
      if (!modelAllowed(node.gpuModel[i]!, d.gpuModels) || free[i]! < d.gpuMilli) continue;
      if (best < 0 || free[i]! < free[best]!) best = i;
    }
    return best < 0 ? undefined : [best];
  }
  const out: number[] = [];
  for (let i = 0; i < free.length && out.length < d.gpuCount; i++) {
    if (modelAllowed(node.gpuModel[i]!, d.gpuModels) && free[i]! >= MILLI) out.push(i);
  }
  return out.length === d.gpuCount ? out : undefined;
}

/**
 * Devices a share could go to, one per distinct (model, free) pair: devices that agree on both
 * leave the node in equivalent states, so trying one of them is enough.
 */
export function shareCandidates(node: NodeState, d: Demand): number[] {
  const out: number[] = [];
  const free = node.gpuFree;
  const model = node.gpuModel;
  for (let i = 0; i < free.length; i++) {
    if (free[i]! < d.gpuMilli || !modelAllowed(model[i]!, d.gpuModels)) continue;
    let dup = false;
    for (const j of out) if (free[j] === free[i] && model[j] === model[i]) dup = true;
    if (!dup) out.push(i);
  }
  return out;
}

/** Device positions → the slices recorded in the allocation. */
export function slicesOf(node: NodeState, positions: readonly number[], d: Demand): GpuSlice[] {
  return positions.map((p) => ({ index: node.gpuIndex[p]!, milli: d.gpuMilli }));
}
