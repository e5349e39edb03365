/**
 * Create→Running latency of the process and container drivers against their floors, in one run,
 * with the cost of each isolation layer of the process sandbox:
 *
 *   node spawn                  child_process.spawn of `sleep 1000` until its 'spawn' event (the floor)
 *   process, unisolated         start(task) of isolation: none until the handle (workload in its cgroup)
 *   process, sandboxed          start(task) of the default sandbox until runc has written the pid
 *   runc -d: host view          the sandbox's own bundle (prepared untimed) run by `runc run --detach`:
 *                               namespaces, project uid, no capabilities, read-only host view, cgroup
 *   runc -d: + seccomp          the same with the default seccomp profile
 *   runc -d: + seccomp + tini   the same with tini as pid 1: exactly the sandbox's config
 *   container driver            start(task) of a busybox container (user namespace where the kernel allows)
 *   container, userns off       the same without a user namespace
 *   runc run -d                 the busybox bundle run directly by `runc run --detach`
 *
 * Every series runs once per round, interleaved, so that drift on the machine hits them alike;
 * teardown is not timed, and each teardown is done before the next start.
 * Usage: npx tsx bench/driver-start.ts [rounds=100]     (root, runc and busybox-static; tini for the init layer)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir, cpus, release } from 'node:os';
import { join } from 'node:path';
import { ProcessDriver } from '../src/node/drivers/process.js';
import { ContainerDriver } from '../src/node/drivers/container.js';
import { ImageStore, buildBusyboxRootfs, isStaticElf } from '../src/node/drivers/images.js';
import { detectCgroups } from '../src/node/drivers/cgroups.js';
import { findExecutable, DEFAULT_PATH } from '../src/node/drivers/commands.js';
import { IdRanges } from '../src/node/drivers/identity.js';
import { sandboxOptions } from '../src/node/drivers/sandbox.js';
import { makeTask, removeCgroupTree } from '../src/node/drivers/testing.js';
import { fmt, percentile } from './lib/util.js';
import { timeIt, viaRunc, viaSandboxBundle, viaSpawn, type SandboxPeer } from './lib/peers.js';

const rounds = Number(process.argv[2] ?? 100);
const warmup = Math.min(5, rounds);
const parent = `stratus-bench-${process.pid}`;

const root = process.getuid?.() === 0;
const runc = await findExecutable('runc', DEFAULT_PATH, '/');
const busybox = existsSync('/bin/busybox') && (await isStaticElf('/bin/busybox'));
const skip = !root ? 'not root' : !runc ? 'runc missing' : !busybox ? 'busybox-static missing' : '';
if (skip) {
  console.log(`driver start: skipped (${skip}); the sandbox and containers need root and runc`);
  process.exit(0);
}

const base = await mkdtemp(join(tmpdir(), 'stratus-bench-'));
const host = await detectCgroups();
const runcRoot = join(base, 'runc');
const ids = new IdRanges(join(base, 'id-ranges.json'));
const sandbox = sandboxOptions();
const processDriver = new ProcessDriver({ cgroupParent: parent, runcRoot, idRanges: ids, allowUnisolated: true });
await buildBusyboxRootfs(join(base, 'rootfs'));
const store = new ImageStore(join(base, 'images'));
const imageDir = (await store.importImage('busybox', join(base, 'rootfs'))).dir;
const containers = new ContainerDriver({ images: store, runcRoot, cgroupParent: parent, idRanges: ids });
const noUserns = new ContainerDriver({ images: store, runcRoot, cgroupParent: parent, idRanges: ids, userns: 'off' });
const sandboxPeer: SandboxPeer = { runc: runc!, runcRoot, imageDir, parent, base, ids, sandbox };

type Driverish = { start: ProcessDriver['start']; destroy: ProcessDriver['destroy'] };
async function viaDriver(d: Driverish, kind: string, i: number, spec: Record<string, unknown> = {}): Promise<number> {
  const task = makeTask(join(base, kind), ['sleep', '1000'], { id: `bench.${kind}.${i}`, spec });
  let handle;
  const ms = await timeIt(async () => (handle = await d.start(task)));
  await d.destroy(handle!);
  return ms;
}

const series: [string, (i: number) => Promise<number>][] = [
  ['node spawn', () => viaSpawn()],
  ['process, unisolated', (i) => viaDriver(processDriver, 'u', i, { isolation: 'none' })],
  ['process, sandboxed', (i) => viaDriver(processDriver, 's', i)],
  ['runc -d: host view', (i) => viaSandboxBundle(sandboxPeer, i, { seccomp: false, init: false })],
  ['runc -d: + seccomp', (i) => viaSandboxBundle(sandboxPeer, i, { seccomp: true, init: false })],
  ['runc -d: + seccomp + tini', (i) => viaSandboxBundle(sandboxPeer, i, { seccomp: true, init: true })],
  ['container driver', (i) => viaDriver(containers, 'c', i, { driver: 'container', image: 'busybox' })],
  ['container, userns off', (i) => viaDriver(noUserns, 'n', i, { driver: 'container', image: 'busybox' })],
  ['runc run -d', (i) => viaRunc({ runc: runc!, runcRoot, imageDir, parent, base }, i)],
];
const samples = new Map<string, number[]>(series.map(([name]) => [name, []]));

try {
  for (let i = 0; i < warmup + rounds; i++) {
    for (const [name, fn] of series) {
      const ms = await fn(i);
      if (i >= warmup) samples.get(name)!.push(ms);
    }
  }
} finally {
  await removeCgroupTree(host, parent).catch((e: Error) => console.error(`cleanup: ${e.message}`));
  await rm(base, { recursive: true, force: true });
}

const pct = (xs: number[], p: number) => percentile([...xs].sort((a, b) => a - b), p);
const tail = rounds >= 1000 ? 'p99' : 'max';
const top = (xs: number[]) => (rounds >= 1000 ? pct(xs, 99) : Math.max(...xs));
console.log(`\ndriver start (Create→Running), ${rounds} starts per series after ${warmup} warm-up, interleaved; ${cpus().length} CPUs, kernel ${release()}, cgroup ${host.mode}${sandbox.init ? '' : ', no tini'}\n`);
console.log(`| series | p50 ms | ${tail} ms |`);
console.log('|---|---|---|');
for (const [name, xs] of samples) console.log(`| ${name} | ${fmt(pct(xs, 50), 2)} | ${fmt(top(xs), 2)} |`);
console.log(`\n| series | compared with | added p50 ms | ratio p50 |`);
console.log('|---|---|---|---|');
const signed = (n: number) => `${n >= 0 ? '+' : '−'}${fmt(Math.abs(n), 2)}`;
const compare = (a: string, b: string) => {
  const [x, y] = [pct(samples.get(a)!, 50), pct(samples.get(b)!, 50)];
  console.log(`| ${a} | ${b} | ${signed(x - y)} | ×${fmt(x / y, 2)} |`);
};
compare('process, unisolated', 'node spawn');
compare('process, sandboxed', 'node spawn');
compare('runc -d: host view', 'node spawn');
compare('runc -d: + seccomp', 'runc -d: host view');
compare('runc -d: + seccomp + tini', 'runc -d: + seccomp');
compare('process, sandboxed', 'runc -d: + seccomp + tini');
compare('container driver', 'runc run -d');
compare('container driver', 'container, userns off');
