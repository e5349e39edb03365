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
import { fmt, percentile } from './lib/util.js';

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
  // stdio ignored: a detached container inherits runc's stdio, so pipes would never close
  const ms = await timeIt(
    () =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(runc!, ['--root', runcRoot, 'run', '--detach', '--pid-file', join(bundle, 'pid'), '--bundle', bundle, id], { cwd: bundle, stdio: 'ignore' });
        child.once('error', reject);
        child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`runc run exited with ${code}`))));
      }),
  );
  await run(runc!, ['--root', runcRoot, 'delete', '--force', id]);
  await rm(bundle, { recursive: true, force: true });
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
      const r = await viaRunc(i);
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
