/**
 * Integration tests of the process driver's unisolated mode (isolation: none, Nomad's raw_exec)
 * with real processes and cgroups; sandbox.test.ts tests the default, sandboxed mode.
 * They need root and cgroup cpu/memory/pids controllers; without them they are skipped, saying why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { ProcessDriver } from './process.js';
import { detectCgroups, describeCgroups, TaskCgroup, type CgroupHost } from './cgroups.js';
import { DriverError, type TaskHandle } from './driver.js';
import { isAlive, readProcStat, sleep } from './proc.js';
import { makeTask as makeAnyTask, removeCgroupTree, type TaskOverrides } from './testing.js';

const root = process.getuid?.() === 0;
const host: CgroupHost = await detectCgroups();
const { enforces } = describeCgroups(host, root);
const why = !root ? 'not root' : !enforces ? 'no cgroup cpu/memory/pids controllers' : '';
if (why) console.warn(`process driver integration tests skipped: ${why}`);

const parent = `stratus-test-${process.pid}`;
let base = '';
const opts = { cgroupParent: parent, allowUnisolated: true, pollIntervalMs: 50, logs: { maxBytes: 4096, maxFiles: 2, checkIntervalMs: 50 } };
/** Every task here asks for the unisolated mode. */
const makeTask = (dir: string, command: string[] | undefined, o: TaskOverrides = {}) => makeAnyTask(dir, command, { ...o, spec: { isolation: 'none', ...o.spec } });

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const cg = (h: TaskHandle) => h.state.cgroups as Record<string, string>;
const procs = (dir: string) => readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);

describe.skipIf(why !== '')(`process driver, unisolated, on this host (${host.mode} cgroups)`, () => {
  const driver = new ProcessDriver(opts);

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'stratus-process-'));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
    await removeCgroupTree(host, parent);
  });

  it('fingerprints limits as enforced', async () => {
    const fp = await driver.fingerprint();
    expect(fp).toMatchObject({ driver: 'process', available: true, enforcesLimits: true, attributes: { unisolated: 'allowed' } });
    expect(fp.details.join('\n')).not.toMatch(/not enforced/);
  });

  it('refuses isolation: none on a node that does not allow it, with a clear error', async () => {
    const strict = new ProcessDriver({ cgroupParent: parent });
    expect((await strict.fingerprint()).attributes.unisolated).toBe('refused');
    await expect(strict.start(makeTask(base, ['true']))).rejects.toThrow(/isolation: none, and this node does not run unisolated processes/);
  });

  it('runs the command in its own cgroup with its limits, in its own process group', async () => {
    const task = makeTask(base, ['sleep', '1000'], { cpu: 250, memory: 64 });
    const h = await driver.start(task);
    const paths = cg(h);
    expect(procs(paths.memory!)).toEqual([h.pid]);
    expect(procs(paths.cpu!)).toEqual([h.pid]);
    if (paths.unified) expect(procs(paths.unified)).toEqual([h.pid]);
    expect(readFileSync(join(paths.memory!, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(64 * 1024 * 1024));
    expect(readFileSync(join(paths.cpu!, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('25000'); // 250m × 100 ms period
    expect(readFileSync(join(paths.pids!, 'pids.max'), 'utf8').trim()).toBe('4096');
    // start() returns once the wrapper is in the cgroup; the exec of the command follows at once
    const st = await waitFor('the exec of sleep', async () => ((await readProcStat(h.pid))?.comm === 'sleep' ? readProcStat(h.pid) : undefined));
    expect(st.pgrp).toBe(h.state.supervisorPid); // its own group and session, not the agent's
    expect(st.session).toBe(h.state.supervisorPid);
    expect(await driver.inspect(h)).toMatchObject({ running: true, pid: h.pid });
    const exit = await driver.stop(h, 2000);
    expect(exit).toMatchObject({ reason: 'Stopped', signal: 'SIGTERM', oomKilled: false });
    await driver.destroy(h);
  });

  it('stop kills a child that ignores SIGTERM after the grace period, and a grandchild that left the group', async () => {
    const task = makeTask(base, ['sh', '-c', 'trap "" TERM; setsid sleep 1000 & echo $! > gc.pid; while :; do sleep 1; done']);
    const h = await driver.start(task);
    const gcFile = join(task.dir, 'work', 'gc.pid');
    const gc = await waitFor('grandchild pid', async () => Number((await readFile(gcFile, 'utf8').catch(() => '')).trim()) || undefined);
    await waitFor('the grandchild to leave the session', async () => (await readProcStat(gc))!.session !== h.state.supervisorPid || undefined);
    expect(procs(cg(h).memory!)).toContain(gc); // ...but not the cgroup
    const t0 = Date.now();
    const exit = await driver.stop(h, 300);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(exit).toMatchObject({ reason: 'Stopped', signal: 'SIGKILL' });
    expect(await isAlive(gc)).toBe(false);
    expect(procs(cg(h).memory!)).toEqual([]);
    await driver.destroy(h);
  });

  it('reports exit codes, and kills what the main process left behind', async () => {
    const h = await driver.start(makeTask(base, ['sh', '-c', 'sleep 1000 & echo $! > left.pid; exit 3']));
    const exit = await driver.wait(h);
    expect(exit).toMatchObject({ code: 3, signal: null, reason: 'Error', oomKilled: false });
    expect(procs(cg(h).memory!)).toEqual([]);
    expect(await driver.wait(h)).toBe(exit); // same result every time
    await driver.destroy(h);
  });

  it('reports a memory hog over its 32Mi limit as OOMKilled', async () => {
    const h = await driver.start(makeTask(base, ['sh', '-c', 'a=x; while :; do a=$a$a; done'], { memory: 32 }));
    const exit = await driver.wait(h);
    expect(exit).toMatchObject({ reason: 'OOMKilled', oomKilled: true, signal: 'SIGKILL', code: null });
    expect(exit.message).toMatch(/out of memory \(limit 32 MiB\)/);
    await driver.destroy(h);
  });

  it('throttles a CPU-bound loop to its 200m quota (by the CFS counters)', async () => {
    const h = await driver.start(makeTask(base, ['sh', '-c', 'while :; do :; done'], { cpu: 200 }));
    const s = await waitFor('20 CFS periods', async () => {
      const st = await driver.stats(h);
      return st.throttling!.periods >= 20 ? st : undefined;
    });
    const t = s.throttling!;
    expect(t.throttledPeriods).toBeGreaterThan(0);
    // usage ≈ quota: at most 20 ms of CPU per active 100 ms period, plus slack of two periods: the
    // first, partial one, and the one that may begin between reading the period count and the
    // usage (they are separate files). Unthrottled, the loop would use 100 ms per period.
    const quotaNs = 20e6;
    expect(s.cpuUsageNs).toBeLessThanOrEqual((t.periods + 2) * quotaNs);
    expect(s.cpuUsageNs).toBeGreaterThanOrEqual(t.periods * quotaNs * 0.7);
    expect(t.throttledPeriods / t.periods).toBeGreaterThan(0.5);
    expect(s.source).toBe('cgroup');
    expect(s.memoryLimitBytes).toBe(128 * 1024 * 1024);
    await driver.destroy(h);
  });

  it('captures stdout and stderr to files, rotates them by size, and tails and follows across rotations', async () => {
    const script = 'i=0; while [ $i -lt 300 ]; do echo "line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; i=$((i+1)); done; echo oops >&2; sleep 0.5; echo last; sleep 1000';
    const task = makeTask(base, ['sh', '-c', script]);
    const h = await driver.start(task);
    const logs = join(task.dir, 'logs');
    await waitFor('a rotated stdout', () => existsSync(join(logs, 'stdout.log.1')) || undefined);
    await waitFor('the last line', async () => (await readFile(join(logs, 'stdout.log'), 'utf8').catch(() => '')).includes('last') || undefined);
    expect((await stat(join(logs, 'stdout.log'))).size).toBeLessThan(4096);
    const tail: string[] = [];
    for await (const l of driver.logs(h, { tail: 2, streams: ['stdout'] })) tail.push(l.line);
    expect(tail[1]).toBe('last');
    expect(tail[0]).toMatch(/^line-299-/);
    const err: string[] = [];
    for await (const l of driver.logs(h, { streams: ['stderr'] })) err.push(`${l.stream}:${l.line}`);
    expect(err).toEqual(['stderr:oops']);
    await driver.destroy(h);

    // follow: yields lines as they come, through a rotation, and ends when the task ends
    const f = await driver.start(makeTask(base, ['sh', '-c', 'echo a; sleep 0.3; i=0; while [ $i -lt 200 ]; do echo "b-$i-yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"; i=$((i+1)); done; sleep 0.4; echo c']));
    const seen: string[] = [];
    for await (const l of driver.logs(f, { follow: true, streams: ['stdout'] })) seen.push(l.line);
    expect(seen[0]).toBe('a');
    expect(seen.at(-1)).toBe('c');
    // Copy-truncate loses what is written between the copy and the truncate, and a follower that
    // polls across two rotations loses the older one's tail (src/drivers/logs.ts): how many lines
    // survive depends on timing. What holds: lines come in order, none twice, some from each side.
    const bs = seen.filter((l) => l.startsWith('b-')).map((l) => Number(l.split('-')[1]));
    expect(bs.length).toBeGreaterThan(0);
    expect(bs.every((n, i) => i === 0 || n > bs[i - 1]!)).toBe(true);
    await driver.destroy(f);
  });

  it('recovers a running task after an agent restart: same pid, and stop still works', async () => {
    const h = await driver.start(makeTask(base, ['sleep', '1000']));
    const persisted = JSON.parse(JSON.stringify(h)) as unknown;
    const restarted = new ProcessDriver(opts);
    await expect(restarted.wait(h)).rejects.toMatchObject({ code: 'UNKNOWN_TASK' });
    const r = await restarted.recover(persisted);
    expect(r.pid).toBe(h.pid);
    expect(await restarted.inspect(r)).toMatchObject({ running: true, pid: h.pid });
    expect((await restarted.stats(r)).pids).toBe(1);
    expect(await restarted.stop(r, 2000)).toMatchObject({ reason: 'Stopped', signal: 'SIGTERM' });
    await restarted.destroy(r);
  });

  it('after a restart, reports the exit code of a task that ends later, or ended meanwhile', async () => {
    const later = await driver.start(makeTask(base, ['sh', '-c', 'sleep 0.5; exit 7']));
    const meanwhile = await driver.start(makeTask(base, ['sh', '-c', 'exit 5']));
    await driver.wait(meanwhile);
    const restarted = new ProcessDriver(opts);
    const a = await restarted.recover(JSON.parse(JSON.stringify(later)));
    const b = await restarted.recover(JSON.parse(JSON.stringify(meanwhile)));
    expect(await restarted.wait(a)).toMatchObject({ code: 7, reason: 'Error' });
    expect(await restarted.wait(b)).toMatchObject({ code: 5, reason: 'Error' });
    await restarted.destroy(a);
    await restarted.destroy(b);
  });

  it('outlives an agent killed with SIGKILL; a new agent process recovers, stops, and reads exit codes', async () => {
    // The "agent" is a separate Node process: its tasks must survive its death and be found again.
    const script = join(base, 'agent.mts');
    writeFileSync(
      script,
      `import { ProcessDriver } from ${JSON.stringify(new URL('./process.ts', import.meta.url).pathname)};
       const d = new ProcessDriver(${JSON.stringify({ cgroupParent: parent, allowUnisolated: true })});
       const mk = (id, command) => ({ id, instance: { project: 'test', name: id, uid: id }, dir: ${JSON.stringify(base)} + '/' + id,
         spec: { driver: 'process', isolation: 'none', command, resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'never', gracePeriod: 1 } });
       const a = await d.start(mk('agent.long.${process.pid}', ['sleep', '1000']));
       const b = await d.start(mk('agent.exits.${process.pid}', ['sh', '-c', 'sleep 1; exit 9']));
       console.log(JSON.stringify([a, b]));
       setInterval(() => {}, 1000);`,
    );
    const agent = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      agent.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]!);
      });
      agent.once('exit', (code) => reject(new Error(`agent exited ${code}: ${out}`)));
    });
    const [long, exits] = JSON.parse(line) as [TaskHandle, TaskHandle];
    agent.kill('SIGKILL');
    await new Promise((r) => agent.once('exit', r));
    expect(await isAlive(long.pid, long.state.pidStart as number)).toBe(true);
    expect((await readProcStat(long.state.supervisorPid as number))!.ppid).not.toBe(agent.pid); // reparented, still supervising
    const next = new ProcessDriver(opts);
    const [l, e] = [await next.recover(long), await next.recover(exits)];
    expect(await next.wait(e)).toMatchObject({ code: 9, reason: 'Error' });
    expect(await next.stop(l, 2000)).toMatchObject({ reason: 'Stopped', signal: 'SIGTERM' });
    await next.destroy(l);
    await next.destroy(e);
  });

  it('refuses handles that are not its own', async () => {
    const restarted = new ProcessDriver(opts);
    await expect(restarted.recover({ driver: 'container', version: 1 })).rejects.toMatchObject({ code: 'INVALID_HANDLE' });
    await expect(restarted.recover('nope')).rejects.toBeInstanceOf(DriverError);
    const h = await driver.start(makeTask(base, ['true']));
    const forged = { ...h, state: { ...h.state, cgroups: { memory: '/etc' } } };
    await expect(restarted.recover(forged)).rejects.toMatchObject({ code: 'INVALID_HANDLE' });
    await driver.destroy(h);
  });

  it('destroy leaves no cgroup and no task directory behind, and is idempotent', async () => {
    const task = makeTask(base, ['sh', '-c', 'sleep 1000 & sleep 1000']);
    const h = await driver.start(task);
    const dirs = Object.values(cg(h));
    expect(dirs.every((d) => existsSync(d))).toBe(true);
    await driver.destroy(h);
    expect(dirs.filter((d) => existsSync(d))).toEqual([]);
    expect(existsSync(task.dir)).toBe(false);
    await driver.destroy(h);
    await new ProcessDriver(opts).destroy(h); // a driver that never saw it
  });

  it('fails to start with a clear error for a missing command or workdir, leaving no cgroup', async () => {
    const t = makeTask(base, ['no-such-command-xyz']);
    await expect(driver.start(t)).rejects.toThrow(/"no-such-command-xyz" is not an executable file/);
    const w = makeTask(base, ['true'], { spec: { workdir: '/no/such/dir' } });
    await expect(driver.start(w)).rejects.toThrow(/workdir \/no\/such\/dir does not exist/);
    expect(existsSync(TaskCgroup.at(host, `${parent}/${t.id}`).dirs()[0]!)).toBe(false);
  });

  it('exec runs a command inside the task: its cgroup, environment and directory', async () => {
    const task = makeTask(base, ['sleep', '1000'], { spec: { env: { GREETING: 'hi' } } });
    const h = await driver.start(task);
    const r = await driver.exec(h, ['sh', '-c', 'echo "$GREETING $(pwd)"; cat /proc/self/cgroup']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`hi ${join(task.dir, 'work')}`);
    expect(r.stdout).toContain(`memory:/${parent}/${task.id}`);
    await driver.destroy(h);
  });

  it('joins a given network namespace', async () => {
    const ns = `stratus-test-${process.pid}`;
    try {
      execFileSync('ip', ['netns', 'add', ns]);
    } catch {
      console.warn('netns test skipped: cannot create a network namespace with ip netns');
      return;
    }
    try {
      const h = await driver.start(makeTask(base, ['sleep', '1000'], { netns: `/run/netns/${ns}` }));
      const inode = (p: string) => execFileSync('stat', ['-L', '-c', '%i', p]).toString().trim();
      expect(inode(`/proc/${h.pid}/ns/net`)).toBe(inode(`/run/netns/${ns}`));
      expect(inode(`/proc/${h.pid}/ns/net`)).not.toBe(inode('/proc/self/ns/net'));
      await driver.destroy(h);
      // The namespace's own resolv.conf (its network's DNS server) is what the workload reads.
      mkdirSync(`/etc/netns/${ns}`, { recursive: true });
      writeFileSync(`/etc/netns/${ns}/resolv.conf`, 'nameserver 10.9.9.9\n');
      const task = makeTask(base, ['cat', '/etc/resolv.conf'], { netns: `/run/netns/${ns}` });
      const h2 = await driver.start(task);
      await driver.wait(h2);
      expect(readFileSync(join(task.dir, 'logs', 'stdout.log'), 'utf8')).toBe('nameserver 10.9.9.9\n');
      await driver.destroy(h2);
    } finally {
      rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
      execFileSync('ip', ['netns', 'del', ns]);
    }
  });
});

describe('process driver without cgroups (unisolated)', () => {
  const driver = new ProcessDriver({ cgroups: { mode: 'none', v1: {} }, allowUnisolated: true, pollIntervalMs: 50 });
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratus-nocg-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('still runs, says limits are not enforced, and stop still kills the whole session', async () => {
    const fp = await driver.fingerprint();
    expect(fp.enforcesLimits).toBe(false);
    expect(fp.details.join('\n')).toMatch(/limits not enforced: no cgroup memory controller/);
    const task = makeTask(dir, ['sh', '-c', 'trap "" TERM; sleep 1000 & echo $! > child.pid; sleep 1000']);
    const h = await driver.start(task);
    expect(h.state.cgroups).toEqual({});
    const child = await waitFor('child pid', async () => Number((await readFile(join(task.dir, 'work', 'child.pid'), 'utf8').catch(() => '')).trim()) || undefined);
    expect((await driver.stats(h)).source).toBe('proc');
    expect(await driver.stop(h, 200)).toMatchObject({ reason: 'Stopped', signal: 'SIGKILL' });
    expect(await isAlive(child)).toBe(false);
    await driver.destroy(h);
    writeFileSync(join(dir, 'done'), '');
  });
});

describe('process driver, unisolated: what it cannot carry', () => {
  it('refuses files (secrets) and mounts it could not place without a mount namespace', async () => {
    const d = new ProcessDriver({ allowUnisolated: true, cgroups: { mode: 'none', v1: {} } });
    const dir = await mkdtemp(join(tmpdir(), 'stratus-rawfiles-'));
    try {
      const files = [{ path: '/run/secrets/db/password', data: 'eA==' }];
      await expect(d.start(makeTask(dir, ['true'], { files }))).rejects.toThrow(/secrets mounted as files and volumes need the sandbox/);
      await expect(d.start(makeTask(dir, ['true'], { mounts: [{ source: '/srv/a', destination: '/data', readOnly: false }] }))).rejects.toThrow(/need the sandbox/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
