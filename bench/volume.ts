/**
 * Volume I/O through the mount an instance gets (node/agent/volumes.ts: a sparse ext4 image on a
 * direct-I/O loop device, mounted, then bound into the workload) against the same I/O on a file
 * of the node's own filesystem (the one that holds the volume files), in one run, interleaved:
 *
 *   seq write   dd if=/dev/zero bs=1M count=SIZE oflag=direct conv=fsync     MiB/s
 *   seq read    dd of=/dev/null bs=1M iflag=direct                            MiB/s
 *   rand read   4 KiB preads at random aligned offsets, O_DIRECT              IOPS
 *   rand write  4 KiB pwrites at random aligned offsets, O_DIRECT | O_DSYNC   IOPS
 *
 * The I/O is issued by this process through the mountpoint: a workload sees the same path (its
 * bind mount of that directory adds nothing to an I/O). Target: ≥ 90 % of direct. Through virtio
 * in a VM is not measured here (bench/vm.ts boots guests; a guest-side fio is not in the image).
 * Usage: npx tsx bench/volume.ts [rounds=5] [sizeMiB=256]     (root: loop devices and mounts)
 *        PREALLOC=1 npx tsx bench/volume.ts ...                the volume's file allocated in full, not sparse
 */
import { mkdtemp, rm, open, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir, release } from 'node:os';
import { join } from 'node:path';
import { NodeVolumes } from '../src/node/agent/volumes.js';
import type { Instance } from '../src/model/kinds/instance.js';
import type { Volume } from '../src/model/kinds/volume.js';
import { fmt, median } from './lib/util.js';
import { createRng } from '../src/scheduler/engine/rng.js';

const rounds = Number(process.argv[2] ?? 5);
const size = Number(process.argv[3] ?? 256);
const BLOCK = 4096;
const RAND_READS = 4000;
const RAND_WRITES = 1000;

if (process.getuid?.() !== 0) {
  console.log('volume I/O: skipped (not root: loop devices and mounts need it)');
  process.exit(0);
}

const base = await mkdtemp(join(tmpdir(), 'stratus-bench-vol-'));
const vols = new NodeVolumes({ dataDir: join(base, 'data'), mountRoot: join(base, 'mnt') });
const inst = { metadata: { name: 'bench', project: 'bench', uid: 'bench-uid' }, spec: { driver: 'process', volumes: [{ volume: 'v', path: '/data' }] } } as unknown as Instance;
const volume = { metadata: { name: 'v', project: 'bench' }, spec: { size: size * 2 + 64, type: 'filesystem' } } as unknown as Volume;

type Series = 'seq write' | 'seq read' | 'rand read' | 'rand write';
const SERIES: Series[] = ['seq write', 'seq read', 'rand read', 'rand write'];
const results: Record<'mount' | 'direct', Record<Series, number[]>> = {
  mount: { 'seq write': [], 'seq read': [], 'rand read': [], 'rand write': [] },
  direct: { 'seq write': [], 'seq read': [], 'rand read': [], 'rand write': [] },
};

/** MiB/s of a dd run (its own wall time, measured here). */
function dd(args: string[]): number {
  const t = performance.now();
  const r = spawnSync('dd', [...args, 'status=none'], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`dd ${args.join(' ')}: ${r.stderr.toString()}`);
  return size / ((performance.now() - t) / 1000);
}

/**
 * A 4 KiB window of `buf` whose address suits O_DIRECT. Node gives no aligned allocation, so the
 * first offset at which an O_DIRECT read succeeds (the kernel refuses misaligned buffers) is it.
 */
async function alignedWindow(fh: FileHandle, buf: Buffer): Promise<Buffer> {
  for (let off = 0; off < BLOCK; off += 16) {
    const w = buf.subarray(off, off + BLOCK);
    if (await fh.read(w, 0, BLOCK, 0).then(() => true, () => false)) return w;
  }
  throw new Error('no O_DIRECT-aligned window found');
}

/** IOPS of `n` random 4 KiB reads or writes of `file`. */
async function randomIo(file: string, n: number, write: boolean, seed: number): Promise<number> {
  const fh = await open(file, constants.O_RDWR | constants.O_DIRECT | (write ? constants.O_DSYNC : 0));
  try {
    const w = await alignedWindow(fh, Buffer.alloc(BLOCK * 2));
    w.fill(7);
    const rng = createRng(seed);
    const blocks = (size * 1024 * 1024) / BLOCK;
    const t = performance.now();
    for (let i = 0; i < n; i++) {
      const at = Math.floor(rng() * blocks) * BLOCK;
      if (write) await fh.write(w, 0, BLOCK, at);
      else await fh.read(w, 0, BLOCK, at);
    }
    return n / ((performance.now() - t) / 1000);
  } finally {
    await fh.close();
  }
}

async function round(where: 'mount' | 'direct', file: string, r: number): Promise<void> {
  const out = results[where];
  out['seq write'].push(dd(['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${size}`, 'oflag=direct', 'conv=fsync']));
  out['seq read'].push(dd([`if=${file}`, 'of=/dev/null', 'bs=1M', 'iflag=direct']));
  out['rand read'].push(await randomIo(file, RAND_READS, false, r + 1));
  out['rand write'].push(await randomIo(file, RAND_WRITES, true, r + 101));
}

try {
  const { mounts } = await vols.attach(inst, new Map([['v', volume]]));
  // the volume's file allocated in full (no holes) instead of sparse: what thin provisioning costs
  if (process.env.PREALLOC === '1') spawnSync('fallocate', ['-l', `${size * 2 + 64}M`, vols.file('bench', 'v')], { stdio: 'inherit' });
  const targets = { mount: join(mounts[0]!.source, 'bench.bin'), direct: join(base, 'direct.bin') };
  for (let r = 0; r < rounds; r++) {
    // alternate which goes first, so that drift hits both alike
    const order = r % 2 === 0 ? (['mount', 'direct'] as const) : (['direct', 'mount'] as const);
    for (const w of order) await round(w, targets[w], r);
  }
  console.log(`volume I/O: ${rounds} rounds, ${size} MiB, kernel ${release()}; ext4 on a direct-I/O loop device vs a file of the node's filesystem`);
  console.log(`${'series'.padEnd(11)} ${'through mount'.padStart(14)} ${'direct'.padStart(10)}  ratio`);
  for (const s of SERIES) {
    const [m, d] = [median(results.mount[s]), median(results.direct[s])];
    const unit = s.startsWith('seq') ? 'MiB/s' : 'IOPS';
    console.log(`${s.padEnd(11)} ${`${fmt(m, 0)} ${unit}`.padStart(14)} ${`${fmt(d, 0)}`.padStart(10)}  ${fmt((100 * m) / d, 1)} %`);
  }
} finally {
  await vols.release('bench-uid');
  await rm(base, { recursive: true, force: true });
}
