/**
 * The sandboxed process driver against a hostile workload: each escape the isolation issue lists
 * is tried from inside, and each test asserts that it failed (and how), not merely that nothing
 * came out. Needs root, runc and cgroups; skipped otherwise, saying why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessDriver } from './process.js';
import { detectCgroups, describeCgroups } from './cgroups.js';
import { findExecutableSync, DEFAULT_PATH } from './commands.js';
import { IdRanges } from './identity.js';
import type { Task, TaskHandle } from './driver.js';
import { makeTask, removeCgroupTree, type TaskOverrides } from './testing.js';
import { isAlive } from './proc.js';

const root = process.getuid?.() === 0;
const host = await detectCgroups();
const runc = findExecutableSync('runc', DEFAULT_PATH, '/');
const why = !root ? 'not root' : !describeCgroups(host, root).enforces ? 'no cgroup controllers' : !runc ? 'runc is not installed' : '';
if (why) console.warn(`process sandbox tests skipped: ${why}`);

const parent = `stratus-sbx-${process.pid}`;
let base = '';
let ranges: IdRanges;
let driver: ProcessDriver;

/** A task of `project` whose output is its stdout.log. */
function task(project: string, command: string[], o: TaskOverrides = {}): Task {
  const t = makeTask(base, command, { ...o, memory: o.memory ?? 64 });
  return { ...t, instance: { ...t.instance, project } };
}

async function run(t: Task): Promise<{ code: number | null; out: string; err: string; handle: TaskHandle }> {
  const handle = await driver.start(t);
  const exit = await driver.wait(handle);
  const read = (f: string) => readFileSync(join(t.dir, 'logs', f), 'utf8');
  return { code: exit.code, out: read('stdout.log'), err: read('stderr.log'), handle };
}

/** Runs `script` with sh in a fresh sandbox of `project` and returns what it printed. */
async function sh(project: string, script: string, o: TaskOverrides = {}) {
  const r = await run(task(project, ['sh', '-c', script], o));
  await driver.destroy(r.handle);
  return r;
}

describe.skipIf(why !== '')('process sandbox against a hostile workload', () => {
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'stratus-sbx-'));
    ranges = new IdRanges(join(base, 'ranges.json'));
    driver = new ProcessDriver({ cgroupParent: parent, idRanges: ranges, pollIntervalMs: 50 });
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
    await removeCgroupTree(host, parent);
  });

  it('fingerprints the sandbox, and refuses isolation: none unless the node allows it', async () => {
    const fp = await driver.fingerprint();
    expect(fp).toMatchObject({ available: true, enforcesLimits: true, attributes: { isolation: 'sandbox', unisolated: 'refused' } });
    await expect(driver.start(task('team-a', ['id'], { spec: { isolation: 'none' } }))).rejects.toThrow(/does not run unisolated processes/);
  });

  it("runs as its project's unprivileged uid, with no capabilities, no_new_privs and seccomp", async () => {
    const a = await sh('team-a', 'id -u; id -g; grep -E "^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; echo "cgroups:"; cat /proc/self/cgroup');
    const b = await sh('team-b', 'id -u');
    const [uidA, gidA] = a.out.split('\n').map(Number);
    expect(uidA).toBe(ranges.forProject('team-a').start);
    expect(gidA).toBe(uidA);
    expect(uidA).toBeGreaterThan(65535);
    expect(Number(b.out.trim())).toBe(ranges.forProject('team-b').start);
    expect(Number(b.out.trim())).not.toBe(uidA);
    expect(a.out).toMatch(/CapPrm:\s+0{16}/);
    expect(a.out).toMatch(/CapEff:\s+0{16}/);
    expect(a.out).toMatch(/CapBnd:\s+0{16}/);
    expect(a.out).toMatch(/NoNewPrivs:\s+1/);
    expect(a.out).toMatch(/Seccomp:\s+2/); // filter mode
    // its own cgroup namespace: it sees its cgroup as the root, not the node's tree of tasks
    const cgroups = a.out.split('cgroups:\n')[1]!.trim().split('\n');
    expect(cgroups.length).toBeGreaterThan(0);
    for (const line of cgroups) expect(line).toMatch(/:\/$/);
  });

  it("cannot read another instance's environment, signal it, or see it at all", async () => {
    const victim = await driver.start(task('team-b', ['sleep', '1000'], { spec: { env: { DB_PASSWORD: 'hunter2' } } }));
    try {
      const r = await sh('team-a', [
        `cat /proc/${victim.pid}/environ; echo "environ=$?"`,
        `kill -9 ${victim.pid}; echo "kill=$?"`,
        'ls /proc | grep -cE "^[0-9]+$"',
        'grep -rl hunter2 /proc/*/environ 2>/dev/null | wc -l',
      ].join('; '));
      expect(r.out).toMatch(/environ=1/); // no such pid in its own pid namespace
      expect(r.out).toMatch(/kill=1/);
      expect(r.out).not.toContain('hunter2');
      const visible = Number(r.out.trim().split('\n').at(-2));
      expect(visible).toBeLessThanOrEqual(8); // tini, sh and what sh runs: nothing of the host's hundreds
      expect(await isAlive(victim.pid, victim.state.pidStart as number)).toBe(true);
    } finally {
      await driver.destroy(victim);
    }
  });

  it("sees the node's system directories read-only, and none of the agent's or other instances' files", async () => {
    const agentDir = join(base, 'agent-data');
    mkdirSync(agentDir, { recursive: true });
    writeFileSync(join(agentDir, 'credential.json'), '{"token":"stratus_secret"}', { mode: 0o600 });
    const other = task('team-b', ['true']);
    const r = await sh('team-a', [
      `cat ${join(agentDir, 'credential.json')}; echo "credential=$?"`,
      `ls ${base}; echo "base=$?"`,
      `ls ${other.dir}; echo "other=$?"`,
      'ls /run/netns; echo "netns=$?"',
      'ls /var/lib /root /home 2>&1 | head -3',
      'touch /usr/bin/evil; echo "usr=$?"',
      'echo x >> /etc/passwd; echo "etc=$?"',
      'cat /etc/shadow > /dev/null; echo "shadow=$?"',
      'echo hi > /tmp/t && cat /tmp/t && echo hi2 > $HOME/w && cat w && pwd',
    ].join('; '));
    for (const k of ['credential', 'base', 'other', 'netns', 'usr', 'etc', 'shadow']) expect(r.out).toMatch(new RegExp(`${k}=[12]`));
    expect(r.out).not.toContain('stratus_secret');
    expect(r.err).toMatch(/Read-only file system/);
    expect(r.out).toContain('hi\nhi2\n/work\n');
  });

  it('cannot make namespaces, join one, mount, or raise privileges', async () => {
    const ns = `stratus-sbx-${process.pid}`;
    let made = false;
    try {
      execFileSync('ip', ['netns', 'add', ns]);
      made = true;
    } catch {
      // without ip netns, setns is still tried on the host's own namespace below
    }
    const r = await sh('team-a', [
      'unshare -U true; echo "unshare-user=$?"',
      'unshare -n true; echo "unshare-net=$?"',
      `nsenter --net=/proc/1/ns/net true; echo "setns=$?"`,
      'mkdir -p /tmp/m && mount -t tmpfs none /tmp/m; echo "mount=$?"',
      'su -c id root </dev/null; echo "su=$?"',
      'chroot / true; echo "chroot=$?"',
    ].join('; '));
    if (made) execFileSync('ip', ['netns', 'del', ns]);
    for (const k of ['unshare-user', 'unshare-net', 'setns', 'mount', 'su', 'chroot']) expect(r.out).toMatch(new RegExp(`${k}=[1-9]`));
    expect(r.err).toMatch(/unshare failed: Operation not permitted/);
  });

  it('keeps its cgroup limits: a memory hog is OOMKilled, and the limits are on its cgroup', async () => {
    const t = task('team-a', ['sh', '-c', 'a=x; while :; do a=$a$a; done'], { memory: 32 });
    const h = await driver.start(t);
    const memDir = (h.state.cgroups as Record<string, string>).memory;
    const limit = memDir ? readFileSync(join(memDir, 'memory.limit_in_bytes'), 'utf8').trim() : readFileSync(join((h.state.cgroups as Record<string, string>).unified!, 'memory.max'), 'utf8').trim();
    expect(limit).toBe(String(32 * 1024 * 1024));
    expect(await driver.wait(h)).toMatchObject({ reason: 'OOMKilled', oomKilled: true });
    await driver.destroy(h);
  });

  it('stops gracefully: SIGTERM reaches the workload through its init', async () => {
    const h = await driver.start(task('team-a', ['sh', '-c', 'trap "echo got TERM; exit 0" TERM; while :; do sleep 0.1; done']));
    await new Promise((r) => setTimeout(r, 300));
    const exit = await driver.stop(h, 5000);
    expect(exit).toMatchObject({ reason: 'Stopped', code: 0 });
    expect(readFileSync(join(h.dir, 'logs', 'stdout.log'), 'utf8')).toContain('got TERM');
    await driver.destroy(h);
  });

  it('places the platform files read-only, owned by the workload, and refuses them inside the host view', async () => {
    const files = [{ path: '/run/secrets/db/password', data: Buffer.from('s3cret').toString('base64') }];
    const r = await sh('team-a', 'cat /run/secrets/db/password; echo; stat -c "%a %u" /run/secrets/db/password; echo new > /run/secrets/db/password; echo "write=$?"', { files });
    const uid = ranges.forProject('team-a').start;
    expect(r.out).toContain(`s3cret\n400 ${uid}\n`);
    expect(r.out).toMatch(/write=[12]/);
    await expect(driver.start(task('team-a', ['true'], { files: [{ path: '/etc/x', data: '' }] }))).rejects.toThrow(/inside \/etc, which the instance sees read-only/);
  });

  it('exec runs inside the sandbox, as the same uid', async () => {
    const h = await driver.start(task('team-a', ['sleep', '1000'], { spec: { env: { GREETING: 'hi' } } }));
    const r = await driver.exec(h, ['sh', '-c', `echo "$GREETING $(id -u) $(pwd)"; test -e /proc/${process.pid}; echo "agent=$?"; ls /proc | grep -cE "^[0-9]+$"`]);
    expect(r.stdout).toContain(`hi ${ranges.forProject('team-a').start} /work`);
    expect(r.stdout).toContain('agent=1'); // the host's processes do not exist in its pid namespace
    expect(Number(r.stdout.trim().split('\n').at(-1))).toBeLessThanOrEqual(8);
    await driver.destroy(h);
  });

  it('refuses commands outside its view with a clear error, and the platform env wins over the spec', async () => {
    const hidden = join(base, 'tool.sh');
    writeFileSync(hidden, '#!/bin/sh\necho run\n', { mode: 0o755 });
    await expect(driver.start(task('team-a', [hidden]))).rejects.toThrow(/outside the sandbox|not an executable file in the sandbox/);
    const r = await sh('team-a', 'echo "$STRATUS_PROJECT"', { env: { STRATUS_PROJECT: 'team-a' }, spec: { env: { STRATUS_PROJECT: 'team-b' } } });
    expect(r.out.trim()).toBe('team-a');
  });

  it('leaves nothing behind once destroyed', async () => {
    const t = task('team-a', ['sleep', '1000']);
    const h = await driver.start(t);
    const dirs = Object.values(h.state.cgroups as Record<string, string>);
    await driver.destroy(h);
    expect(dirs.filter((d) => existsSync(d))).toEqual([]);
    expect(existsSync(t.dir)).toBe(false);
    expect(statSync(base).isDirectory()).toBe(true);
  });
});
