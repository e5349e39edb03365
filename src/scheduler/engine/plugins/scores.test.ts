import { describe, expect, it } from 'vitest';
import { CapacityIndex } from '../capacity.js';
import { instance, node, type InstanceOpts, type NodeOpts } from '../fixtures.js';
import { compileRequest } from '../request.js';
import { ClusterSnapshot } from '../snapshot.js';
import type { ScoreContext, ScorePlugin } from '../types.js';
import { bestfit, binpack, dotprod, gpuClustering, gpuPacking, leastAllocated, randomFit } from './scores.js';

/** A node `n` with `used` instances bound to it, and the request `req`. */
function setup(n: NodeOpts, used: InstanceOpts[], req: InstanceOpts) {
  const snap = ClusterSnapshot.from(
    [node('n1', n)],
    used.map((u, i) => instance(`u${i}`, { ...u, node: 'n1' })),
  );
  return { n: snap.node('n1')!, req: compileRequest(instance('new', req), () => 'binpack') };
}

interface Row {
  name: string;
  node: NodeOpts;
  used?: InstanceOpts[];
  req: InstanceOpts;
  want: number;
}

const CTX: ScoreContext = { maxNodeCpu: 128_000, maxNodeGpus: 8, capacity: new CapacityIndex(() => []) };

function table(plugin: ScorePlugin, rows: Row[]) {
  it.each(rows)('$name → $want', ({ node: n, used, req, want }) => {
    const s = setup(n, used ?? [], req);
    expect(plugin.score(s.req, s.n, CTX).score).toBe(want);
  });
}

describe('binpack (most allocated)', () => {
  table(binpack, [
    // cpu: (1000 + 1000)·100/4000 = 50; mem: (2048 + 2048)·100/8192 = 50; ⌊(50 + 50)/2⌋ = 50
    { name: 'half full after placing', node: { cpu: 4000, memory: 8192 }, used: [{ cpu: 1000, memory: 2048 }], req: { cpu: 1000, memory: 2048 }, want: 50 },
    // cpu: 1000·100/4000 = 25; mem: ⌊1024·100/8192⌋ = ⌊12.5⌋ = 12; ⌊(25 + 12)/2⌋ = 18
    { name: 'empty node', node: { cpu: 4000, memory: 8192 }, req: { cpu: 1000, memory: 1024 }, want: 18 },
    // cpu: (3000 + 1000)·100/4000 = 100; mem: (4096 + 4096)·100/8192 = 100 → 100
    { name: 'exactly full after placing', node: { cpu: 4000, memory: 8192 }, used: [{ cpu: 3000, memory: 4096 }], req: { cpu: 1000, memory: 4096 }, want: 100 },
  ]);
});

describe('spread (least allocated)', () => {
  table(leastAllocated, [
    // cpu: (4000 − 1000)·100/4000 = 75; mem: (8192 − 2048)·100/8192 = 75 → 75
    { name: 'empty node', node: { cpu: 4000, memory: 8192 }, req: { cpu: 1000, memory: 2048 }, want: 75 },
    // cpu: (1000 − 1000)·100/4000 = 0; mem: (8192 − 128 − 0)·100/8192 = ⌊98.4⌋ = 98; ⌊(0 + 98)/2⌋ = 49
    { name: 'CPU used up', node: { cpu: 4000, memory: 8192 }, used: [{ cpu: 3000, memory: 128 }], req: { cpu: 1000, memory: 0 }, want: 49 },
  ]);
});

describe('bestfit', () => {
  table(bestfit, [
    // s = 0.5·(96000 − 12000)/128000 + 0.5·(8000 − 1000)/8000 = 0.328125 + 0.4375 = 0.765625
    // ⌊100·(1 − 0.765625)⌋ = ⌊23.4375⌋ = 23
    { name: 'one GPU on an empty 8-GPU node', node: { cpu: 96_000, memory: 400_000, gpus: 8 }, req: { cpu: 12_000, gpu: { count: 1 } }, want: 23 },
    // s = 0.5·0/128000 + 0.5·0/8000 = 0 → 100
    { name: 'exact fit', node: { cpu: 32_000, memory: 400_000, gpus: 4 }, req: { cpu: 32_000, gpu: { count: 4 } }, want: 100 },
    // s = 0.5·(32000 − 8000)/128000 + 0.5·0/8000 = 0.09375 → ⌊90.625⌋ = 90
    { name: 'CPU-only work on a CPU node', node: { cpu: 32_000, memory: 64_000 }, req: { cpu: 8000 }, want: 90 },
  ]);
});

describe('dotprod', () => {
  table(dotprod, [
    // free (64000 CPU, 4000 GPU), request (16000, 1000):
    // dot = 64000·16000/128000² + 4000·1000/8000² = 0.0625 + 0.0625 = 0.125; ⌊100·(1 − 0.125/2)⌋ = ⌊93.75⌋ = 93
    {
      name: 'half-used 8-GPU node',
      node: { cpu: 128_000, memory: 800_000, gpus: 8 },
      used: [{ cpu: 64_000, gpu: { count: 4 } }],
      req: { cpu: 16_000, gpu: { count: 1 } },
      want: 93,
    },
    // free (32000, 0), request (1000, 0): dot = 32000·1000/128000² = 0.001953125; ⌊100·(1 − 0.0009765625)⌋ = 99
    { name: 'CPU node', node: { cpu: 32_000, memory: 64_000 }, req: { cpu: 1000 }, want: 99 },
  ]);
});

describe('gpu-packing', () => {
  const fourGpus: NodeOpts = { cpu: 64_000, memory: 256_000, gpus: 4 };
  // devices free [1000, 1000, 600, 0]: two instances use device 2 (400) and device 3 (1000)
  const partly: InstanceOpts[] = [
    { gpu: { share: 400 }, gpuAllocation: [{ index: 2, milli: 400 }] },
    { gpu: { count: 1 }, gpuAllocation: [{ index: 3, milli: 1000 }] },
  ];
  table(gpuPacking, [
    // all 4 devices free: max(33 − 4, 4) = 29
    { name: 'all devices free', node: fourGpus, req: { gpu: { share: 500 } }, want: 29 },
    // share 500 goes to device 2 (600 free): ⌊600·100/1000⌋ = 60; max(100 − ⌊60/10⌋, 50) = 94
    { name: 'share fits on a shared device', node: fourGpus, used: partly, req: { gpu: { share: 500 } }, want: 94 },
    // two whole GPUs must take devices 0 and 1 (free): max(50 − 2, 33) = 48
    { name: 'whole GPUs on a used node', node: fourGpus, used: partly, req: { gpu: { count: 2 } }, want: 48 },
    // no GPU asked → 0
    { name: 'CPU-only request', node: fourGpus, req: { cpu: 100 }, want: 0 },
  ]);
});

describe('gpu-clustering', () => {
  const eight: NodeOpts = { cpu: 96_000, memory: 400_000, gpus: 8 };
  table(gpuClustering, [
    // only shares here, 7000 free: base = ⌊25·(8000 − 7000)/8000⌋ = ⌊3.125⌋ = 3; 75 + 3 = 78
    { name: 'same kind only', node: eight, used: [{ gpu: { share: 500 } }, { gpu: { share: 500 } }], req: { gpu: { share: 300 } }, want: 78 },
    // shares and a 1-gpu, 6500 free: base = ⌊25·1500/8000⌋ = ⌊4.6875⌋ = 4; 50 + 4 = 54
    { name: 'same kind among others', node: eight, used: [{ gpu: { share: 500 } }, { gpu: { count: 1 } }], req: { gpu: { share: 300 } }, want: 54 },
    // nothing here: base = 0; 25 + 0 = 25
    { name: 'idle node', node: eight, req: { gpu: { share: 300 } }, want: 25 },
    // only 2-gpu instances, 6000 free: base = ⌊25·2000/8000⌋ = 6; 0 + 6 = 6
    { name: 'other kinds only', node: eight, used: [{ gpu: { count: 2 } }], req: { gpu: { share: 300 } }, want: 6 },
  ]);
});

describe('random fit', () => {
  it('scores 100 and puts a share on a device with room', () => {
    const s = setup({ cpu: 8000, memory: 8192, gpus: 2 }, [{ gpu: { share: 800 }, gpuAllocation: [{ index: 0, milli: 800 }] }], { gpu: { share: 500 } });
    const r = randomFit(() => 0).score(s.req, s.n);
    expect(r).toEqual({ score: 100, devices: [1] });
  });
});
