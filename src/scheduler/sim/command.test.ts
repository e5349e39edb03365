import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseSeeds, simReplayCommand, type SimReplayOptions } from './command.js';

const dir = mkdtempSync(join(tmpdir(), 'stratus-sim-'));
const nodesFile = join(dir, 'nodes.csv');
const tasksFile = join(dir, 'tasks.csv');
writeFileSync(nodesFile, 'sn,cpu_milli,memory_mib,gpu,model\ng-0,32000,131072,4,T4\ng-1,32000,131072,2,T4\nc-0,16000,65536,0,\n');
writeFileSync(
  tasksFile,
  'name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n' + Array.from({ length: 12 }, (_, i) => `t-${i},${1000 + i * 100},2048,${i % 3 === 0 ? 0 : 1},${i % 3 === 0 ? 0 : [300, 1000][i % 2]},`).join('\n') + '\n',
);

async function run(opts: Partial<SimReplayOptions>): Promise<{ code: number; text: string }> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const code = await simReplayCommand({ nodes: nodesFile, tasks: tasksFile, policy: 'fgd', seeds: [42], json: false, ...opts }, out);
  return { code, text };
}

describe('parseSeeds', () => {
  it.each([
    ['42-51', [42, 43, 44, 45, 46, 47, 48, 49, 50, 51]],
    ['42,43', [42, 43]],
    ['1-3,7', [1, 2, 3, 7]],
  ])('%s', (text, seeds) => expect(parseSeeds(text)).toEqual(seeds));

  it.each(['', '42-', 'x', '5-3'])('rejects %j', (text) => expect(() => parseSeeds(text)).toThrow(/seeds: /));
});

describe('simReplayCommand', () => {
  it('prints per-seed rows and the mean', async () => {
    const { code, text } = await run({ seeds: [42, 43] });
    expect(code).toBe(0);
    expect(text).toContain('Replay of 12 tasks (GPU request tuned to 1.3× capacity) on 3 nodes (6 GPUs)');
    expect(text).toContain('FGD target workload: learned from the arrivals');
    const cell = String.raw`(\d+\.\d\d|not reached)`;
    expect(text).toMatch(new RegExp(String.raw`^fgd\s+42\s+${cell}\s+${cell}\s+${cell}\s+\d+\s+\d+\.\d\ds$`, 'm'));
    // seed 43 reached 130 %, seed 42 did not: the mean says over how many runs it is
    expect(text).toMatch(/^fgd\s+mean\s.*\d+\.\d\d \(1\/2\)/m);
    expect(text).toContain('(k/n): the mean of the k runs of n that reached the checkpoint');
  });

  it('prints one JSON document for all policies and writes the curve', async () => {
    const csv = join(dir, 'curve.csv');
    const { code, text } = await run({ policy: 'all', json: true, csv });
    expect(code).toBe(0);
    const doc = JSON.parse(text);
    expect(doc.policies.map((p: { policy: string }) => p.policy)).toEqual(['binpack', 'spread', 'fgd', 'fgd-sc', 'random', 'dotprod', 'gpu-clustering', 'gpu-packing', 'bestfit']);
    const fgd = doc.policies[2];
    expect(Object.keys(fgd.runs[0].allocation)).toEqual(['90', '100', '130']);
    expect(fgd.mean.allocation['100']).toBe(fgd.runs[0].allocation['100']);
    expect(typeof fgd.runs[0].failed).toBe('number');
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('policy,seed,arrival,arrived_pct,allocated_pct');
    const rows = doc.policies.reduce((s: number, p: { runs: { arrivals: number }[] }) => s + p.runs[0]!.arrivals, 0);
    expect(rows).toBeGreaterThanOrEqual(9 * 12);
    expect(lines).toHaveLength(1 + rows);
  });

  it('says "not reached" (text) and null (JSON) for a checkpoint a run never reached', async () => {
    // 2 GPUs; every task asks 400: 1.3 × 2000 = 2600 → 6 tasks, 2400 asked; arrivals 20, 40, …,
    // 120 %: 90 % is jumped over, 130 % never reached; two 400s fit a GPU: 80 % allocated
    writeFileSync(join(dir, 'small.csv'), 'sn,cpu_milli,memory_mib,gpu,model\ng-0,32000,131072,2,T4\n');
    writeFileSync(join(dir, 'fours.csv'), 'name,cpu_milli,memory_mib,num_gpu,gpu_milli\n' + Array.from({ length: 3 }, (_, i) => `f-${i},1000,1024,1,400`).join('\n') + '\n');
    const files = { nodes: join(dir, 'small.csv'), tasks: join(dir, 'fours.csv'), policy: 'bestfit' };
    const { text } = await run({ ...files, seeds: [1, 2] });
    expect(text).toMatch(/^bestfit\s+1\s+not reached\s+80\.00\s+not reached\s/m);
    expect(text).toMatch(/^bestfit\s+mean\s+not reached\s+80\.00\s+not reached\s/m);
    const doc = JSON.parse((await run({ ...files, seeds: [1], json: true })).text);
    expect(doc.policies[0].runs[0]).toMatchObject({ arrivals: 6, appended: 3, removed: 0, maxArrived: 120, allocation: { 90: null, 100: 80, 130: null } });
    expect(doc.policies[0].mean.allocation).toEqual({ 90: null, 100: 80, 130: null });
  });

  it('takes FGD\'s target workload from the task list when asked', async () => {
    const { code, text } = await run({ workload: 'trace' });
    expect(code).toBe(0);
    expect(text).toContain('FGD target workload: from the task list (the paper)');
  });

  it('runs the default policy', async () => {
    const { code, text } = await run({ policy: 'default' });
    expect(code).toBe(0);
    expect(text).toMatch(/^default\s+42/m);
  });

  it('exits 1 with a readable message on bad input', async () => {
    expect(await run({ policy: 'nope' })).toEqual({ code: 1, text: expect.stringMatching(/^error: policy: "nope" is not one of binpack, spread/) });
    writeFileSync(join(dir, 'bad.csv'), 'sn,cpu_milli,memory_mib,gpu,model\ng-0,lots,1,0,\n');
    const bad = await run({ nodes: join(dir, 'bad.csv') });
    expect(bad.code).toBe(1);
    expect(bad.text).toBe(`error: ${join(dir, 'bad.csv')}:2: column cpu_milli: "lots" is not a whole number\n`);
    expect((await run({ seeds: [] })).text).toContain('seeds: none given');
  });
});
