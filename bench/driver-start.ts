/**
 * Create→Running latency of the process and container drivers against their floors, in one run:
 *
 *   process driver  start(task) until the handle is returned (workload in its cgroup, about to exec)
 *   node spawn      child_process.spawn of the same command until its 'spawn' event
 *   container       start(task) until the handle is returned (runc has written the container's pid)
 *   runc run -d     the same busybox bundle run directly by `runc run --detach` until runc returns
 *
 * The four are interleaved per round so that drift on the machine hits them alike; teardown is not timed.
 * Usage: npx tsx bench/driver-start.ts [rounds=100]     (root, runc and busybox-static for the container half)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir, cpus, release } from 'node:os';
import { join } from 'node:path';
import { ProcessDriver } from '../src/drivers/process.js';
import { ContainerDriver } from '../src/drivers/container.js';
import { ImageStore, buildBusyboxRootfs, isStaticElf } from '../src/drivers/images.js';
import { detectCgroups } from '../src/drivers/cgroups.js';
import { findExecutable, DEFAULT_PATH } from '../src/drivers/commands.js';
import { makeTask, removeCgroupTree } from '../src/drivers/testing.js';
import { fmt, percentile } from './lib/util.js';
import { timeIt, viaRunc, viaSpawn } from './lib/peers.js';

const rounds = Number(process.argv[2] ?? 100);
const warmup = 5;
const parent = `stratus-bench-${process.pid}`;

const root = process.getuid?.() === 0;
const runc = await findExecutable('runc', DEFAULT_PATH, '/');
const busybox = existsSync('/bin/busybox') && (await isStaticElf('/bin/busybox'));
const containerSkip = !root ? 'not root' : !runc ? 'runc missing' : !busybox ? 'busybox-static missing' : '';

const base = await mkdtemp(join(tmpdir(), 'stratus-bench-'));
const host = await detectCgroups();
const processDriver = new ProcessDriver({ cgroupParent: parent });
const samples: Record<string, number[]> = { 'process driver': [], 'node spawn': [], 'container driver': [], 'runc run -d': [] };

let containerDriver: ContainerDriver | undefined;
let imageDir = '';
const runcRoot = join(base, 'runc');
if (!containerSkip) {
  await buildBusyboxRootfs(join(base, 'rootfs'));
  const store = new ImageStore(join(base, 'images'));
  imageDir = (await store.importImage('busybox', join(base, 'rootfs'))).dir;
  containerDriver = new ContainerDriver({ images: store, runcRoot, cgroupParent: parent });
}

async function viaProcessDriver(i: number): Promise<number> {
  const task = makeTask(join(base, 'p'), ['sleep', '1000'], { id: `bench.p.${i}` });
  let handle;
  const ms = await timeIt(async () => (handle = await processDriver.start(task)));
  await processDriver.destroy(handle!);
  return ms;
}

async function viaContainerDriver(i: number): Promise<number> {
  const task = makeTask(join(base, 'c'), ['sleep', '1000'], { id: `bench.c.${i}`, spec: { driver: 'container', image: 'busybox' } });
  let handle;
  const ms = await timeIt(async () => (handle = await containerDriver!.start(task)));
  await containerDriver!.destroy(handle!);
  return ms;
}

const pct = (xs: number[], p: number) => percentile([...xs].sort((a, b) => a - b), p);

try {
  for (let i = 0; i < warmup + rounds; i++) {
    const keep = i >= warmup;
    const p = await viaProcessDriver(i);
    const s = await viaSpawn();
    if (keep) {
      samples['process driver']!.push(p);
      samples['node spawn']!.push(s);
    }
    if (containerDriver) {
      const c = await viaContainerDriver(i);
      const r = await viaRunc({ runc: runc!, runcRoot, imageDir, parent, base }, i);
      if (keep) {
        samples['container driver']!.push(c);
        samples['runc run -d']!.push(r);
      }
    }
  }
} finally {
  await removeCgroupTree(host, parent).catch((e: Error) => console.error(`cleanup: ${e.message}`));
  await rm(base, { recursive: true, force: true });
}

console.log(`\ndriver start (Create→Running), ${rounds} starts per series after ${warmup} warm-up, interleaved; ${cpus().length} CPUs, kernel ${release()}, cgroup ${host.mode}\n`);
console.log('| series | p50 ms | p99 ms |');
console.log('|---|---|---|');
for (const [name, xs] of Object.entries(samples)) if (xs.length) console.log(`| ${name} | ${fmt(pct(xs, 50), 2)} | ${fmt(pct(xs, 99), 2)} |`);
console.log('\n| driver | peer | added p50 ms | added p99 ms | ratio p50 | ratio p99 |');
console.log('|---|---|---|---|---|---|');
const compare = (driver: string, peer: string) => {
  const d = samples[driver]!;
  const b = samples[peer]!;
  if (!d.length) return;
  const [d50, d99, b50, b99] = [pct(d, 50), pct(d, 99), pct(b, 50), pct(b, 99)];
  const signed = (n: number) => `${n >= 0 ? '+' : '−'}${fmt(Math.abs(n), 2)}`;
  console.log(`| ${driver} | ${peer} | ${signed(d50 - b50)} | ${signed(d99 - b99)} | ×${fmt(d50 / b50, 2)} | ×${fmt(d99 / b99, 2)} |`);
};
compare('process driver', 'node spawn');
compare('container driver', 'runc run -d');
if (containerSkip) console.log(`\ncontainer half skipped: ${containerSkip}`);
