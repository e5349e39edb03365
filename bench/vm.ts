/**
 * VMs (issue 14): create → first HTTP answer from inside the guest, through the vm driver against
 * raw QEMU started by hand with the same kernel, disk, seed and flags, in the same run; then density.
 *
 *   driver   t0 = VmDriver.start(task) called (the driver builds the seed, makes the cgroup, starts
 *            QEMU under its supervisor, waits for QMP) → t1 = the guest's httpd answers through a
 *            user-mode port forward on 127.0.0.1
 *   raw      t0 = spawn(qemu-system-x86_64, the very argv the driver builds; seed made beforehand,
 *            untimed) → t1 = the same answer
 *
 * Each round makes a fresh root overlay per series (untimed) and runs the two series back to back,
 * alternating which goes first. Firecracker's published figure (125 ms from API call to /sbin/init
 * under KVM) is the speed anchor; under TCG (emulation) neither series is near it.
 *
 * Density: DENSITY VMs of GUEST_MIB each started through the driver at once and waited for (HTTP),
 * then each QEMU's resident memory and its cgroup's usage read: the overhead per VM is RSS minus
 * the guest's RAM, and VMs per 24 GiB node follow from the RSS. Capped by count (default 8) so the
 * run ends within minutes on 2 shared cores. The issue asks for 64 MiB guests; Debian's kernel does
 * not boot below ~96 MiB (at 80 MiB it stops after "Physical KASLR disabled: no suitable memory
 * region!"), so the image's guests get 96 MiB.
 *
 * Usage: npx tsx bench/vm.ts [rounds=5] [density=8]      (root; QEMU, cloud-image-utils and the image's build tools)
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectCgroups } from '../src/node/drivers/cgroups.js';
import { DEFAULT_PATH, findExecutable } from '../src/node/drivers/commands.js';
import { IdRanges } from '../src/node/drivers/identity.js';
import { makeTask, removeCgroupTree } from '../src/node/drivers/testing.js';
import type { Task, TaskHandle } from '../src/node/drivers/driver.js';
import { qemuArgs, macFor } from '../src/node/drivers/vm/argv.js';
import { buildSeed, seedFiles } from '../src/node/drivers/vm/seed.js';
import { builtVmImage, vmOverlay, vmTestsUnavailable } from '../src/node/drivers/vm/testing.js';
import { VmDriver } from '../src/node/drivers/vm/vm.js';
import { fmt, percentile } from './lib/util.js';

const rounds = Number(process.argv[2] ?? 5);
const density = Number(process.argv[3] ?? 8);
const GUEST_MIB = 96;
const why = vmTestsUnavailable();
if (why) {
  console.log(`vm: skipped (${why})`);
  process.exit(0);
}

const parent = `stratus-bench-vm-${process.pid}`;
const base = await mkdtemp(join(tmpdir(), 'stratus-bench-vm-'));
const ids = new IdRanges(join(base, 'id-ranges.json'));
const driver = new VmDriver({ cgroupParent: parent, idRanges: ids, pollIntervalMs: 100 });
const image = await builtVmImage();
const qemu = (await findExecutable('qemu-system-x86_64', DEFAULT_PATH, '/'))!;
const choice = await driver.accel();
const sandbox = /^-sandbox /m.test(await output(qemu, ['-help']));

function output(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('close', () => resolve(out));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Polls the guest's page through the forward until it answers; resolves with the time it did. */
async function firstHttp(port: number, deadlineMs = 180_000): Promise<number> {
  const end = performance.now() + deadlineMs;
  while (performance.now() < end) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
      if (r.ok && (await r.text()).includes('stratus vm')) return performance.now();
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no HTTP answer on 127.0.0.1:${port} within ${deadlineMs} ms`);
}

let n = 0;
async function vmTask(memory: number): Promise<{ task: Task; port: number }> {
  const i = ++n;
  const port = await freePort();
  const dir = join(base, `t${i}`);
  const root = await vmOverlay(image, join(base, `disk${i}`));
  const task = {
    ...makeTask(base, undefined, { spec: { driver: 'vm' } as never, memory, cpu: 1000, dir, id: `bench.vm${i}.${process.pid}` }),
    instance: { project: 'bench', name: `vm${i}`, uid: `uid-${i}` },
    userNet: { forwards: [{ protocol: 'tcp' as const, hostIp: '127.0.0.1', hostPort: port, guestPort: 80 }] },
    disks: [{ path: root, format: 'qcow2' as const, readOnly: false }],
  };
  return { task, port };
}

async function viaDriver(): Promise<number> {
  const { task, port } = await vmTask(128);
  const t0 = performance.now();
  const h = await driver.start(task);
  const ms = (await firstHttp(port)) - t0;
  await driver.destroy(h);
  return ms;
}

/** The driver's own argv for the same kind of task, started by hand (no supervisor, no cgroup, no QMP wait). */
async function viaRaw(): Promise<number> {
  const { task, port } = await vmTask(128);
  const run = join(task.dir, 'run');
  await mkdir(join(task.dir, 'logs'), { recursive: true });
  const mac = macFor(task.instance.uid);
  const seed = await buildSeed(run, seedFiles(task, mac), 'cloud-localds');
  const range = ids.forProject('bench');
  const args = qemuArgs({
    accel: choice.accel, machine: 'q35', cpus: 1, memoryMiB: 128, disks: task.disks!, seed, userNet: task.userNet!, userMac: mac,
    qmpSocket: join(run, 'qmp.sock'), consoleSocket: join(run, 'console.sock'), serialLog: join(task.dir, 'logs', 'stdout.log'),
    runAs: { uid: range.start, gid: range.start }, sandbox, tcgCacheMiB: 32, name: task.id,
  });
  const t0 = performance.now();
  const child = spawn(qemu, args, { stdio: 'ignore' });
  const ms = (await firstHttp(port)) - t0;
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  await rm(task.dir, { recursive: true, force: true });
  return ms;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function cgroupMiB(h: TaskHandle): number {
  const paths = h.state.cgroups as Record<string, string>;
  for (const f of [paths.unified && join(paths.unified, 'memory.current'), paths.memory && join(paths.memory, 'memory.usage_in_bytes')]) {
    if (!f) continue;
    try {
      return Number(readFileSync(f, 'utf8')) / 2 ** 20;
    } catch {
      // next
    }
  }
  return NaN;
}

async function densityRun(count: number): Promise<void> {
  const started: { h: TaskHandle; port: number }[] = [];
  let refused = '';
  try {
    for (let i = 0; i < count; i++) {
      const { task, port } = await vmTask(GUEST_MIB);
      try {
        started.push({ h: await driver.start(task), port });
      } catch (e) {
        refused = (e as Error).message;
        break;
      }
    }
    const t0 = performance.now();
    await Promise.all(started.map((s) => firstHttp(s.port, 300_000)));
    const allUp = performance.now() - t0;
    const rss = started.map((s) => rssMiB(s.h.pid));
    const cg = started.map((s) => cgroupMiB(s.h));
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(`\ndensity: ${started.length} VMs of ${GUEST_MIB} MiB running at once${refused ? `; the next was refused: ${refused}` : ` (capped at ${count})`}, all answering HTTP ${fmt(allUp / 1000)} s after the last start`);
    console.log(`  QEMU RSS per VM: mean ${fmt(avg(rss))} MiB (min ${fmt(Math.min(...rss))}, max ${fmt(Math.max(...rss))}); cgroup memory per VM: mean ${fmt(avg(cg))} MiB`);
    console.log(`  overhead per VM (RSS − ${GUEST_MIB} MiB guest RAM): ${fmt(avg(rss) - GUEST_MIB)} MiB; the cgroup allows ${GUEST_MIB} + 128 MiB`);
    console.log(`  VMs per 24 GiB node at this RSS: ${Math.floor((24 * 1024) / avg(rss))}; the scheduler, counting the ${GUEST_MIB} MiB request only, would place ${Math.floor((24 * 1024) / GUEST_MIB)}`);
  } finally {
    for (const s of started) await driver.destroy(s.h).catch(() => undefined);
  }
}

try {
  console.log(`vm: ${rounds} rounds, accelerator ${choice.accel} (${choice.reason}); ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}`);
  const d: number[] = [];
  const r: number[] = [];
  await viaDriver(); // warm-up: page cache, the probe
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      d.push(await viaDriver());
      r.push(await viaRaw());
    } else {
      r.push(await viaRaw());
      d.push(await viaDriver());
    }
    console.log(`  round ${i + 1}: driver ${fmt(d.at(-1)!)} ms, raw ${fmt(r.at(-1)!)} ms`);
  }
  const p = (xs: number[], q: number) => percentile([...xs].sort((a, b) => a - b), q);
  const [dp, rp] = [p(d, 50), p(r, 50)];
  console.log(`\ncreate → first HTTP answer (${choice.accel}), p50 of ${rounds}:`);
  console.log(`  vm driver      ${fmt(dp)} ms (max ${fmt(Math.max(...d))})`);
  console.log(`  raw QEMU       ${fmt(rp)} ms (max ${fmt(Math.max(...r))})`);
  console.log(`  overhead       ${fmt(dp - rp)} ms, ratio ${fmt(dp / rp, 3)} (target ≤ 1.05 and ≤ 300 ms)`);
  console.log(`  anchor         Firecracker 125 ms to /sbin/init under KVM (published); KVM here: ${choice.accel === 'kvm' ? 'used' : 'not usable'}`);
  if (density > 0) await densityRun(density);
} finally {
  await removeCgroupTree(await detectCgroups(), parent).catch(() => undefined);
  await rm(base, { recursive: true, force: true });
}
