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
    expect(text).toContain('Replay of 12 tasks (inflated to 1.3×) on 3 nodes (6 GPUs)');
    expect(text).toMatch(/^fgd\s+42\s+\d+\.\d\d\s+\d+\.\d\d\s+\d+\.\d\d\*?\s+\d+\s+\d+\.\d\ds$/m);
    expect(text).toMatch(/^fgd\s+mean\s/m);
  });

  it('prints one JSON document for all policies and writes the curve', async () => {
    const csv = join(dir, 'curve.csv');
    const { code, text } = await run({ policy: 'all', json: true, csv });
    expect(code).toBe(0);
    const doc = JSON.parse(text);
    expect(doc.policies.map((p: { policy: string }) => p.policy)).toEqual(['binpack', 'spread', 'fgd', 'random', 'dotprod', 'gpu-clustering', 'gpu-packing', 'bestfit']);
    const fgd = doc.policies[2];
    expect(Object.keys(fgd.runs[0].allocation)).toEqual(['90', '100', '130']);
    expect(fgd.mean.allocation['100']).toBe(fgd.runs[0].allocation['100']);
    expect(typeof fgd.runs[0].failed).toBe('number');
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('policy,seed,arrival,arrived_pct,allocated_pct');
    const rows = doc.policies.reduce((s: number, p: { runs: { arrivals: number }[] }) => s + p.runs[0]!.arrivals, 0);
    expect(rows).toBeGreaterThanOrEqual(8 * 12);
    expect(lines).toHaveLength(1 + rows);
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
