import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseNodes, parseTasks } from '../sim/trace.js';
import { planMachines, planOrder, strategies } from './machines.js';
import { simPlanCommand, type SimPlanOptions } from './sim-command.js';

const dir = mkdtempSync(join(tmpdir(), 'stratus-plan-'));
const NODES = 'sn,cpu_milli,memory_mib,gpu,model\n' + [0, 1, 2, 3].map((i) => `g-${i},8000,32768,2,T4\nc-${i},16000,65536,0,`).join('\n') + '\n';
const HEAD = 'name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n';
/** 8 one-GPU tasks of 2 cores, 8 CPU-only tasks of 4 cores. */
const TASKS = HEAD + Array.from({ length: 8 }, (_, i) => `gpu-${i},2000,1024,1,1000,\ncpu-${i},4000,1024,0,0,`).join('\n') + '\n';
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const nodesFile = file('nodes.csv', NODES);
const tasksFile = file('tasks.csv', TASKS);

async function run(o: Partial<SimPlanOptions>): Promise<{ code: number; text: string }> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const code = await simPlanCommand({ nodes: nodesFile, tasks: tasksFile, unlimited: false, compaction: true, json: false, ...o }, out);
  return { code, text };
}

describe('planMachines', () => {
  const nodes = parseNodes(NODES, 'nodes.csv');
  const tasks = parseTasks(TASKS, 'tasks.csv');

  it('fills the GPU machines, then opens one CPU machine for what is left; bound and ratio', () => {
    const p = planMachines(nodes, tasks);
    // GPU machines: 2 GPU tasks (4 cores) + one 4-core task each; 4 CPU tasks left → one 16-core machine.
    expect(p.kinds.map((k) => [k.kind.name, k.used, k.tasks])).toEqual([['8c-32Gi-2xT4', 4, 12], ['16c-64Gi', 1, 4]]);
    expect(p).toMatchObject({ used: 5, placed: 16, unplaced: 0 });
    // GPU: 8 GPUs on 2-GPU machines → 4; CPU: 48 cores, 16-core machines first → 3.
    expect(p.bound.byResource).toEqual({ cpu: 3, memory: 1, gpu: 4 });
    expect(p.bound.machines).toBe(4);
    expect(p.ratio).toBe(5 / 4);
  });

  it('with unlimited kinds, bounds by the largest machine per resource', () => {
    const p = planMachines(nodes, tasks, { unlimited: true });
    expect(p.unplaced).toBe(0);
    expect(p.bound.byResource).toEqual({ cpu: 3, memory: 1, gpu: 4 });
    expect(p.used).toBeGreaterThanOrEqual(4);
  });

  it('counts tasks no machine kind can host, and those no machine is left for', () => {
    const more = parseTasks(TASKS + 'huge,1000,1024,4,1000,\nv100,1000,1024,1,1000,V100M32\n' + Array.from({ length: 40 }, (_, i) => `extra-${i},1000,1024,1,1000,`).join('\n'), 't');
    const p = planMachines(nodes, more);
    // 4-GPU and V100 tasks fit no kind; 8 GPUs in all, 48 asked.
    expect(p.unplaced).toBe(2 + 40);
    expect(p.placed).toBe(16);
  });

  it('keeps the best of its tries: fewest unplaced, then fewest machines', () => {
    expect(strategies(4, false)).toHaveLength(8);
    expect(strategies(4, true).map((s) => s.order)).toEqual(['list', 'decreasing', 1, 2]);
    expect(strategies(1, true)).toEqual([{ order: 'list', openAll: false }]);
    const p = planMachines(nodes, tasks, { tries: 3 });
    expect(p.tried).toHaveLength(6);
    const fewest = Math.min(...p.tried.map((t) => t.unplaced));
    expect(p.unplaced).toBe(fewest);
    expect(p.used).toBe(Math.min(...p.tried.filter((t) => t.unplaced === fewest).map((t) => t.used)));
    expect(p.tried.map((t) => t.label)).toContain(p.strategy);
  });

  it('orders by GPU asked, then CPU ascending', () => {
    expect(planOrder(parseTasks(HEAD + 'a,1000,1,0,0,\nb,3000,1,1,500,\nc,2000,1,1,1000,\nd,1000,1,1,1000,\n', 't')).map((t) => t.name)).toEqual(['d', 'c', 'b', 'a']);
  });
});

describe('simPlanCommand', () => {
  it('prints per kind the machines used beside the bound, and the ratio', async () => {
    const { code, text } = await run({});
    expect(code).toBe(0);
    expect(text).toMatch(/8c-32Gi-2xT4\s+4\s+4\s+12\s+4 \(cpu; CPU 4, memory 1, GPU 4\)\s+1\.000/);
    expect(text).toContain('Machines needed: 5');
    expect(text).toContain('Lower bound:     4 (gpu; CPU 3, memory 1, GPU 4)');
    expect(text).toContain('Ratio:           1.250 (target ≤ 1.05)');
    expect(text).toContain('Target:          not met');
    expect(text).toContain('GPU allocation:  100.00 % (GPU asked by the placed tasks ÷ GPU of the machines used)');
  });

  it('--json carries the same numbers', async () => {
    const { code, text } = await run({ json: true });
    expect(code).toBe(0);
    const doc = JSON.parse(text);
    expect(doc).toMatchObject({ used: 5, unplaced: 0, ratio: 1.25, met: false, gpuPlacedMilli: 8000, gpuCapacityMilli: 8000, bound: { machines: 4, binding: 'gpu', cpu: 3, memory: 1, gpu: 4 } });
    expect(doc.kinds[1]).toMatchObject({ kind: '16c-64Gi', model: null, available: 4, used: 1, tasks: 4 });
  });

  it('says how many tasks were not placed and that the target is not met', async () => {
    const { text } = await run({ tasks: file('big.csv', HEAD + 'huge,1000,1024,4,1000,\nsmall,1000,1024,1,1000,\n') });
    expect(text).toContain('Unplaced:        1 of 2 tasks fit on no machine left: the target is not met');
  });

  it('a node file with no nodes is one line and exit 1', async () => {
    const { code, text } = await run({ nodes: file('empty.csv', 'sn,cpu_milli,memory_mib,gpu,model\n') });
    expect(code).toBe(1);
    expect(text).toMatch(/^error: .*empty\.csv:2: no nodes \(the file has only a header\)\n$/);
  });
});
