/**
 * The Alibaba GPU cluster trace ("openb", /work/shared/traces/alibaba-gpu-v2023/README.md):
 * node and task CSVs → Stratus Node and Instance objects, checked strictly.
 */
import type { Instance } from '../../model/kinds/instance.js';
import type { Node } from '../../model/kinds/node.js';
import { dnsLabelProblem } from '../../model/labels.js';
import { GPU_MODEL_PATTERN } from '../../model/resources.js';
import { CsvError, intField, parseCsv, type CsvRecord } from './csv.js';

export interface TraceNode {
  readonly name: string;
  readonly cpu: number;
  readonly memory: number;
  readonly gpus: number;
  readonly model: string;
}

export interface TraceTask {
  readonly name: string;
  readonly cpu: number;
  readonly memory: number;
  /** Devices: whole GPUs, or 1 with gpuMilli < 1000 for a share. */
  readonly gpuCount: number;
  /** Per device: 1000 for whole GPUs, the share otherwise; 0 without GPUs. */
  readonly gpuMilli: number;
  readonly models?: readonly string[];
}

const MODEL_RE = new RegExp(GPU_MODEL_PATTERN);
const NODE_COLUMNS = ['sn', 'cpu_milli', 'memory_mib', 'gpu', 'model'] as const;
/** gpu_spec (allowed GPU models, "V100M16|V100M32") is optional: some trace files leave it out. */
const TASK_COLUMNS = ['name', 'cpu_milli', 'memory_mib', 'num_gpu', 'gpu_milli'] as const;

function nameField(r: CsvRecord, column: string, file: string, seen: Set<string>): string {
  const name = r.get(column).trim();
  const problem = dnsLabelProblem(name);
  if (problem) throw new CsvError(file, r.line, column, problem);
  if (seen.has(name)) throw new CsvError(file, r.line, column, `${JSON.stringify(name)} appears twice`);
  seen.add(name);
  return name;
}

function modelField(r: CsvRecord, column: string, file: string, text: string): string {
  if (!MODEL_RE.test(text)) throw new CsvError(file, r.line, column, `${JSON.stringify(text)} is not a GPU model name`);
  return text;
}

export function parseNodes(text: string, file: string): TraceNode[] {
  const seen = new Set<string>();
  const nodes = parseCsv(text, file, NODE_COLUMNS).map((r) => {
    const name = nameField(r, 'sn', file, seen);
    const gpus = intField(r, 'gpu', file, 0, 64);
    const modelText = r.get('model').trim();
    if (gpus > 0 && modelText === '') throw new CsvError(file, r.line, 'model', `is empty but the node has ${gpus} GPUs`);
    if (gpus === 0 && modelText !== '') throw new CsvError(file, r.line, 'model', `is ${JSON.stringify(modelText)} but the node has no GPUs`);
    const model = gpus > 0 ? modelField(r, 'model', file, modelText) : '';
    return { name, cpu: intField(r, 'cpu_milli', file), memory: intField(r, 'memory_mib', file), gpus, model };
  });
  if (nodes.length === 0) throw new CsvError(file, 2, undefined, 'no nodes (the file has only a header)');
  return nodes;
}

export function parseTasks(text: string, file: string): TraceTask[] {
  const seen = new Set<string>();
  const tasks = parseCsv(text, file, TASK_COLUMNS).map((r): TraceTask => {
    const name = nameField(r, 'name', file, seen);
    const gpuCount = intField(r, 'num_gpu', file, 0, 64);
    const gpuMilli = intField(r, 'gpu_milli', file, 0, 1000);
    if (gpuCount === 0 && gpuMilli !== 0) throw new CsvError(file, r.line, 'gpu_milli', `is ${gpuMilli} but num_gpu is 0`);
    if (gpuCount > 0 && gpuMilli === 0) throw new CsvError(file, r.line, 'gpu_milli', `is 0 but num_gpu is ${gpuCount}`);
    if (gpuCount > 1 && gpuMilli !== 1000) throw new CsvError(file, r.line, 'gpu_milli', `is ${gpuMilli}; a share (< 1000) needs num_gpu 1`);
    const spec = r.get('gpu_spec').trim();
    const models = spec === '' ? undefined : spec.split('|').map((m) => modelField(r, 'gpu_spec', file, m));
    const base = { name, cpu: intField(r, 'cpu_milli', file), memory: intField(r, 'memory_mib', file), gpuCount, gpuMilli };
    return models && gpuCount > 0 ? { ...base, models } : base;
  });
  if (tasks.length === 0) throw new CsvError(file, 2, undefined, 'no tasks (the file has only a header)');
  return tasks;
}

const EPOCH = '1970-01-01T00:00:00.000Z';

export function toNode(n: TraceNode): Node {
  const gpus = Array.from({ length: n.gpus }, (_, index) => ({ index, model: n.model }));
  const resources = { cpu: n.cpu, memory: n.memory, disk: 0, gpus };
  return {
    kind: 'node',
    metadata: { name: n.name, uid: `node-${n.name}`, revision: 1, generation: 1, createdAt: EPOCH },
    spec: {},
    status: { phase: 'Ready', capacity: resources, allocatable: resources },
  };
}

/** A pending instance asking what `t` asks, named `name` (clones get their own names). */
export function toInstance(t: TraceTask, name: string = t.name): Instance {
  const gpu =
    t.gpuCount === 0
      ? undefined
      : { ...(t.gpuMilli < 1000 ? { share: t.gpuMilli } : { count: t.gpuCount }), ...(t.models ? { models: [...t.models] } : {}) };
  return {
    kind: 'instance',
    metadata: { name, project: 'trace', uid: `inst-${name}`, revision: 1, generation: 1, createdAt: EPOCH },
    spec: {
      driver: 'container',
      image: 'trace',
      resources: { cpu: t.cpu, memory: t.memory, disk: 0, ...(gpu ? { gpu } : {}) },
      priority: 0,
      restartPolicy: 'never',
      gracePeriod: 0,
    },
    status: { phase: 'Pending' },
  };
}

/** GPU thousandths a task asks for: whole GPUs × 1000, or the share. */
export function taskGpu(t: TraceTask): number {
  return t.gpuCount * t.gpuMilli;
}
