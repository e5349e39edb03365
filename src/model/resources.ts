/**
 * Resource requests and capacities, shared by instances, nodes and project quotas.
 *
 * Normalized form (what the store holds, what the scheduler reads):
 *   cpu: millicores, memory: MiB, disk: MiB,
 *   gpu: { count } whole devices, or { share } thousandths of one device; models: allowed GPU models.
 */
import { Type, type Static } from '@sinclair/typebox';
import { CpuQuantity, SizeQuantity, Strict } from './schema.js';
import { parseCpu, parseMebibytes, QuantityError, formatCpu, formatMebibytes } from './quantity.js';
import type { FieldProblem } from './errors.js';

export const GPU_MODEL_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$';

export const GpuRequestSchema = Type.Object(
  {
    count: Type.Optional(Type.Integer({ minimum: 0, maximum: 64, description: 'Whole GPUs (devices).' })),
    share: Type.Optional(Type.Integer({ minimum: 1, maximum: 999, description: 'A share of one GPU in thousandths (500 = half a GPU). Excludes count.' })),
    models: Type.Optional(
      Type.Union([
        Type.Array(Type.String({ pattern: GPU_MODEL_PATTERN }), { maxItems: 32 }),
        Type.String({ pattern: `^[A-Za-z0-9._|-]{1,512}$` }),
      ], { description: 'GPU models allowed, as a list or "V100M16|V100M32". Empty: any model.', errorMessage: 'is not a list of GPU models (e.g. ["V100M16", "V100M32"] or "V100M16|V100M32")' }),
    ),
  },
  Strict,
);

export const ResourcesSchema = Type.Object(
  {
    cpu: Type.Optional(CpuQuantity('CPU to reserve. Default 100m.')),
    memory: Type.Optional(SizeQuantity('Memory to reserve; also the hard limit. Default 128Mi.')),
    disk: Type.Optional(SizeQuantity('Scratch disk to reserve. Default 0.')),
    gpu: Type.Optional(GpuRequestSchema),
  },
  { ...Strict, description: 'What the instance reserves on its node.' },
);

export interface GpuRequest {
  count?: number;
  share?: number;
  models?: string[];
}

/** Normalized resources: integers in canonical units. */
export interface Resources {
  cpu: number;
  memory: number;
  disk: number;
  gpu?: GpuRequest;
}

export type ResourcesInput = Static<typeof ResourcesSchema>;

export const DEFAULT_RESOURCES = { cpu: 100, memory: 128, disk: 0 } as const;

/** Parses quantities and fills defaults. Problems are reported at `path`. */
export function normalizeResources(input: ResourcesInput | undefined, path: string, problems: FieldProblem[]): Resources {
  const out: Resources = {
    cpu: quantity(input?.cpu, DEFAULT_RESOURCES.cpu, parseCpu, `${path}.cpu`, problems),
    memory: quantity(input?.memory, DEFAULT_RESOURCES.memory, parseMebibytes, `${path}.memory`, problems),
    disk: quantity(input?.disk, DEFAULT_RESOURCES.disk, parseMebibytes, `${path}.disk`, problems),
  };
  const gpu = input?.gpu;
  if (gpu) {
    if (gpu.count !== undefined && gpu.share !== undefined) {
      problems.push({ path: `${path}.gpu`, message: 'set either count (whole GPUs) or share (thousandths of one GPU), not both' });
    }
    const models = typeof gpu.models === 'string' ? gpu.models.split('|').filter((m) => m !== '') : gpu.models;
    const normalized: GpuRequest = {};
    if (gpu.count !== undefined) normalized.count = gpu.count;
    if (gpu.share !== undefined) normalized.share = gpu.share;
    if (models && models.length > 0) normalized.models = [...new Set(models)];
    if ((normalized.count ?? 0) > 0 || normalized.share !== undefined) out.gpu = normalized;
  }
  return out;
}

export function quantity(
  value: unknown,
  fallback: number,
  parse: (v: unknown) => number,
  path: string,
  problems: FieldProblem[],
): number {
  if (value === undefined) return fallback;
  try {
    return parse(value);
  } catch (e) {
    problems.push({ path, message: e instanceof QuantityError ? e.message : String(e), value });
    return fallback;
  }
}

/** GPU demand in thousandths of a GPU: 2 whole GPUs → 2000, a 460 share → 460. */
export function gpuMilli(gpu: GpuRequest | undefined): number {
  if (!gpu) return 0;
  return gpu.share ?? (gpu.count ?? 0) * 1000;
}

export function formatResources(r: Resources | undefined): string {
  if (!r) return '';
  const parts = [`cpu=${formatCpu(r.cpu)}`, `mem=${formatMebibytes(r.memory)}`];
  if (r.disk) parts.push(`disk=${formatMebibytes(r.disk)}`);
  if (r.gpu?.count) parts.push(`gpu=${r.gpu.count}`);
  if (r.gpu?.share) parts.push(`gpu=${r.gpu.share / 1000}`);
  if (r.gpu?.models) parts.push(`models=${r.gpu.models.join('|')}`);
  return parts.join(' ');
}
