/**
 * project: a tenant. Owns instances, services, networks...; carries quotas. Membership lives on
 * users (`user.spec.roles`) and tokens, so a project admin manages it through /members routes.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineKind, type DescribeLine, type QuotaName, type StoredObject } from '../kind.js';
import { CpuQuantity, SizeQuantity, StringEnum, Strict } from '../schema.js';
import { quantity } from '../resources.js';
import { parseCpu, parseMebibytes, formatCpu, formatMebibytes } from '../quantity.js';
import type { FieldProblem } from '../errors.js';
import { age } from '../format.js';

/** The phase of a project being deleted with everything in it (`DELETE ...?cascade=true`). */
export const PROJECT_DELETING = 'Deleting';

export const QuotasSchema = Type.Object(
  {
    cpu: Type.Optional(CpuQuantity('Total CPU the project may reserve.')),
    memory: Type.Optional(SizeQuantity('Total memory the project may reserve.')),
    disk: Type.Optional(SizeQuantity('Total disk the project may reserve.')),
    gpu: Type.Optional(CpuQuantity('Total GPUs, in the same notation as CPU: 4 or "4" is four GPUs, "500m" half of one.')),
    instances: Type.Optional(Type.Integer({ minimum: 0, description: 'Most instances the project may have.' })),
    volumes: Type.Optional(Type.Integer({ minimum: 0, description: 'Most volumes the project may have.' })),
    storage: Type.Optional(SizeQuantity('Total size of the project\'s volumes.')),
  },
  { ...Strict, description: 'Limits checked when objects are created. Unset: unlimited.' },
);

export const ProjectSpecSchema = Type.Object(
  {
    displayName: Type.Optional(Type.String({ maxLength: 256 })),
    description: Type.Optional(Type.String({ maxLength: 4096 })),
    quotas: Type.Optional(QuotasSchema),
    allowUnisolated: Type.Optional(Type.Boolean({
      description: 'Process instances of this project may ask for isolation: none (run as root, seeing the whole node) on nodes that allow it. Set by cluster admins; default false.',
    })),
    hostPorts: Type.Optional(Type.String({
      maxLength: 1024,
      description: 'Host ports the project may publish besides the cluster\'s published port range (--node-port-range), e.g. "22,80,8000-9000". Set by cluster admins.',
    })),
  },
  Strict,
);

export const ProjectStatusSchema = Type.Object(
  {
    phase: Type.Optional(StringEnum(['Active', PROJECT_DELETING], { description: 'Active; Deleting once a cascade delete started (status.deletion says what it still waits for): nothing new can be created in it.' })),
    usage: Type.Optional(Type.Object({
      cpu: Type.Integer({ minimum: 0 }),
      memory: Type.Integer({ minimum: 0 }),
      disk: Type.Integer({ minimum: 0 }),
      gpu: Type.Integer({ minimum: 0 }),
      instances: Type.Integer({ minimum: 0 }),
      volumes: Type.Optional(Type.Integer({ minimum: 0 })),
      storage: Type.Optional(Type.Integer({ minimum: 0, description: 'MiB.' })),
    }, Strict)),
  },
  Strict,
);

export type Quotas = Partial<Record<QuotaName, number>>;

/**
 * Every project quota, in the order people read them, with how its canonical amount reads
 * (millicores, MiB, thousandths of a GPU, counts). Kinds say what they take (their `quota`).
 */
export const QUOTAS: readonly { name: QuotaName; show: (n: number) => string }[] = [
  { name: 'cpu', show: formatCpu },
  { name: 'memory', show: formatMebibytes },
  { name: 'disk', show: formatMebibytes },
  { name: 'gpu', show: (n) => `${n / 1000} GPU` },
  { name: 'instances', show: String },
  { name: 'volumes', show: String },
  { name: 'storage', show: formatMebibytes },
];
export type ProjectSpec = Omit<Static<typeof ProjectSpecSchema>, 'quotas'> & { quotas?: Quotas };
export type Project = StoredObject<ProjectSpec, Static<typeof ProjectStatusSchema>>;

function normalizeQuotas(q: Static<typeof QuotasSchema>, problems: FieldProblem[]): Quotas {
  const out: Quotas = {};
  if (q.cpu !== undefined) out.cpu = quantity(q.cpu, 0, parseCpu, 'spec.quotas.cpu', problems);
  if (q.memory !== undefined) out.memory = quantity(q.memory, 0, parseMebibytes, 'spec.quotas.memory', problems);
  if (q.disk !== undefined) out.disk = quantity(q.disk, 0, parseMebibytes, 'spec.quotas.disk', problems);
  if (q.gpu !== undefined) out.gpu = quantity(q.gpu, 0, parseCpu, 'spec.quotas.gpu', problems);
  if (q.instances !== undefined) out.instances = q.instances;
  if (q.volumes !== undefined) out.volumes = q.volumes;
  if (q.storage !== undefined) out.storage = quantity(q.storage, 0, parseMebibytes, 'spec.quotas.storage', problems);
  return out;
}

/** An inclusive range of ports. */
export type PortRange = [number, number];

/** "22,80,8000-9000" → [[22,22],[80,80],[8000,9000]]; "" → []; undefined when malformed. */
export function parsePortRanges(text: string): PortRange[] | undefined {
  const out: PortRange[] = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 1 || hi > 65535 || lo > hi) return undefined;
    out.push([lo, hi]);
  }
  return out;
}

export function inPortRanges(port: number, ranges: readonly PortRange[]): boolean {
  return ranges.some(([lo, hi]) => port >= lo && port <= hi);
}

export function formatPortRanges(ranges: readonly PortRange[]): string {
  return ranges.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`)).join(',');
}

function quotaSummary(p: Project): string {
  const q = p.spec.quotas;
  if (!q) return 'unlimited';
  const parts: string[] = [];
  if (q.cpu !== undefined) parts.push(`cpu=${formatCpu(q.cpu)}`);
  if (q.memory !== undefined) parts.push(`mem=${formatMebibytes(q.memory)}`);
  if (q.gpu !== undefined) parts.push(`gpu=${q.gpu / 1000}`);
  if (q.instances !== undefined) parts.push(`instances=${q.instances}`);
  if (q.volumes !== undefined) parts.push(`volumes=${q.volumes}`);
  if (q.storage !== undefined) parts.push(`storage=${formatMebibytes(q.storage)}`);
  return parts.join(' ') || 'unlimited';
}

export const projectKind = defineKind({
  kind: 'project',
  plural: 'projects',
  title: 'Project',
  aliases: ['proj'],
  scope: 'cluster',
  description: 'A tenant: its members, quotas and objects.',
  spec: ProjectSpecSchema,
  status: ProjectStatusSchema,
  writers: 'cluster-admins',
  normalize: (spec, problems) => {
    if (spec.hostPorts !== undefined && parsePortRanges(spec.hostPorts) === undefined) {
      problems.push({ path: 'spec.hostPorts', message: 'is not a list of ports and ranges such as "22,80,8000-9000" (ports 1-65535, each range low-high)', value: spec.hostPorts });
    }
    if (!spec.quotas) return spec;
    return { ...spec, quotas: normalizeQuotas(spec.quotas, problems) } as Static<typeof ProjectSpecSchema>;
  },
  initialStatus: () => ({ phase: 'Active' as const }),
  access: { visibleTo: 'its-members', hidden: true },
  describe: (o) => describeProject(o as Project),
  columns: [
    { header: 'NAME', get: (o) => o.metadata.name },
    { header: 'DISPLAY NAME', get: (o) => (o as Project).spec.displayName ?? '' },
    { header: 'QUOTAS', get: (o) => quotaSummary(o as Project) },
    { header: 'AGE', get: (o) => age(o.metadata.createdAt) },
  ],
});

/** Phase, and each quota as `used / limit` (as `openstack quota show --usage`). */
function describeProject(p: Project): DescribeLine[] {
  const used: Partial<Record<QuotaName, number>> = p.status?.usage ?? {};
  const q = p.spec.quotas ?? {};
  // GPUs read as CPUs do here (4, 500m), as the quota is written.
  const show = (name: QuotaName, n: number) => (name === 'gpu' ? formatCpu(n) : QUOTAS.find((x) => x.name === name)!.show(n));
  const rows = QUOTAS.map(({ name }) => [name, `${show(name, used[name] ?? 0)} / ${q[name] === undefined ? 'unlimited' : show(name, q[name]!)}`]);
  return [{ field: 'Phase', value: p.status?.phase ?? 'Active' }, { title: 'Quota usage', headers: ['RESOURCE', 'USED / LIMIT'], rows }];
}
