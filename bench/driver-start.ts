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
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm, mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir, cpus, release } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ProcessDriver } from '../src/drivers/process.js';
import { ContainerDriver } from '../src/drivers/container.js';
import { ImageStore, buildBusyboxRootfs, isStaticElf } from '../src/drivers/images.js';
import { detectCgroups } from '../src/drivers/cgroups.js';
import { findExecutable, DEFAULT_PATH } from '../src/drivers/commands.js';
import { ociConfig } from '../src/drivers/oci.js';
import { makeTask, removeCgroupTree } from '../src/drivers/testing.js';

const run = promisify(execFile);
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

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function viaProcessDriver(i: number): Promise<number> {
  const task = makeTask(join(base, 'p'), ['sleep', '1000'], { id: `bench.p.${i}` });
  let handle;
  const ms = await timeIt(async () => (handle = await processDriver.start(task)));
  await processDriver.destroy(handle!);
  return ms;
}

async function viaSpawn(): Promise<number> {
  let child: ReturnType<typeof spawn> | undefined;
  const ms = await timeIt(
    () =>
      new Promise<void>((resolve, reject) => {
        child = spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' });
        child.once('spawn', resolve);
        child.once('error', reject);
      }),
  );
  const exited = new Promise((r) => child!.once('exit', r));
  child!.kill('SIGKILL');
  await exited;
  return ms;
}

async function viaContainerDriver(i: number): Promise<number> {
  const task = makeTask(join(base, 'c'), ['sleep', '1000'], { id: `bench.c.${i}`, spec: { driver: 'container', image: 'busybox' } });
  let handle;
  const ms = await timeIt(async () => (handle = await containerDriver!.start(task)));
  await containerDriver!.destroy(handle!);
  return ms;
}

/** The floor: a prepared bundle (rootfs = the image directory, read-only) run by runc directly. */
async function viaRunc(i: number): Promise<number> {
  const id = `bench.r.${i}`;
  const bundle = join(base, 'r', id);
  await mkdir(bundle, { recursive: true });
  const config = ociConfig({
    args: ['sleep', '1000'],
    env: { PATH: DEFAULT_PATH },
    cwd: '/',
    hostname: 'bench',
    resources: { cpu: 100, memory: 128, pids: 4096 },
    cgroupsPath: `/${parent}/${id}`,
    root: imageDir,
  });
  (config.root as { readonly: boolean }).readonly = true;
  await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
  const ms = await timeIt(() => run(runc!, ['--root', runcRoot, 'run', '--detach', '--pid-file', join(bundle, 'pid'), '--bundle', bundle, id], { cwd: bundle }));
  await run(runc!, ['--root', runcRoot, 'delete', '--force', id]);
  await rm(bundle, { recursive: true, force: true });
  return ms;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};

try {
  for (let i = 0; i < warmup + rounds; i++) {
    const keep = i >= warmup;
    const p = await viaProcessDriver(i);
    const s = await viaSpawn();
    if (keep) samples['process driver']!.push(p), samples['node spawn']!.push(s);
    if (containerDriver) {
      const c = await viaContainerDriver(i);
      const r = await viaRunc(i);
      if (keep) samples['container driver']!.push(c), samples['runc run -d']!.push(r);
    }
  }
} finally {
  await removeCgroupTree(host, parent).catch((e: Error) => console.error(`cleanup: ${e.message}`));
  await rm(base, { recursive: true, force: true });
}

const f = (n: number) => n.toFixed(2).padStart(8);
console.log(`driver start latency, ${rounds} starts each (after ${warmup} warm-up), ${cpus().length} CPUs, kernel ${release()}, cgroup ${host.mode}`);
console.log(`${'series'.padEnd(18)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`);
for (const [name, xs] of Object.entries(samples)) if (xs.length) console.log(`${name.padEnd(18)} ${f(pct(xs, 50))} ${f(pct(xs, 99))}`);
const compare = (driver: string, floor: string) => {
  const d = samples[driver]!;
  const b = samples[floor]!;
  if (!d.length) return;
  const [d50, d99, b50, b99] = [pct(d, 50), pct(d, 99), pct(b, 50), pct(b, 99)];
  console.log(`${driver} vs ${floor}: +${(d50 - b50).toFixed(2)} ms at p50 (×${(d50 / b50).toFixed(2)}), +${(d99 - b99).toFixed(2)} ms at p99 (×${(d99 / b99).toFixed(2)})`);
};
compare('process driver', 'node spawn');
if (containerSkip) console.log(`container half skipped: ${containerSkip}`);
else compare('container driver', 'runc run -d');
