/**
 * The floors Stratus is compared with: starting a command straight from Node, and running a
 * prepared OCI bundle straight with runc. Each returns the milliseconds until the workload runs.
 */
import { spawn, execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_PATH } from '../../src/node/drivers/commands.js';
import { ociConfig } from '../../src/node/drivers/oci.js';
import type { IdRanges } from '../../src/node/drivers/identity.js';
import { prepareSandbox, type SandboxOptions } from '../../src/node/drivers/sandbox.js';
import { makeTask } from '../../src/node/drivers/testing.js';

const run = promisify(execFile);

export async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** child_process.spawn of `sleep 1000` until its 'spawn' event; then kills it. */
export async function viaSpawn(): Promise<number> {
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

export interface RuncPeer {
  runc: string;
  runcRoot: string;
  /** Root filesystem used read-only as the bundle's root. */
  imageDir: string;
  /** Cgroup parent for the container. */
  parent: string;
  /** Scratch directory for bundles. */
  base: string;
}

/** A prepared bundle run by `runc run --detach` until runc returns; then deleted. */
export async function viaRunc(peer: RuncPeer, i: number): Promise<number> {
  const id = `bench.r.${process.pid}.${i}`;
  const config = ociConfig({
    args: ['sleep', '1000'],
    env: { PATH: DEFAULT_PATH },
    cwd: '/',
    hostname: 'bench',
    resources: { cpu: 100, memory: 128, pids: 4096 },
    cgroupsPath: `/${peer.parent}/${id}`,
    root: peer.imageDir,
  });
  (config.root as { readonly: boolean }).readonly = true;
  return runDetached(peer, id, config);
}

export interface SandboxPeer extends RuncPeer {
  ids: IdRanges;
  sandbox: SandboxOptions;
}

/**
 * The process driver's sandbox bundle for `sleep 1000` (laid out untimed, by the driver's own
 * code), run by `runc run --detach` with the given layers: the default seccomp profile, and tini
 * as pid 1. With both it is exactly the sandbox's config; `netns` makes runc join that namespace.
 */
export async function viaSandboxBundle(peer: SandboxPeer, i: number, layers: { seccomp: boolean; init: boolean }, netns?: string): Promise<number> {
  const id = `bench.h.${process.pid}.${i}`;
  const task = makeTask(join(peer.base, 'h'), ['sleep', '1000'], { id, ...(netns ? { netns } : {}) });
  const range = peer.ids.forProject(task.instance.project);
  const { bundle, input } = await prepareSandbox(task, { uid: range.start, gid: range.start }, layers.init ? peer.sandbox : { hostView: peer.sandbox.hostView });
  const config = ociConfig({ ...input, resources: { cpu: 100, memory: 128, pids: 4096 }, cgroupsPath: `/${peer.parent}/${id}`, ...(layers.seccomp ? {} : { seccomp: null }) });
  const ms = await runDetached(peer, id, config, bundle);
  await rm(task.dir, { recursive: true, force: true });
  return ms;
}

/** `runc run --detach` of `config` (written into a fresh bundle) until runc returns; then deleted. */
export async function runDetached(peer: Pick<RuncPeer, 'runc' | 'runcRoot' | 'base'>, id: string, config: Record<string, unknown>, bundle = join(peer.base, 'r', id)): Promise<number> {
  await mkdir(bundle, { recursive: true });
  await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
  // stdio ignored: a detached container inherits runc's stdio, so pipes would never close
  const ms = await timeIt(
    () =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(peer.runc, ['--root', peer.runcRoot, 'run', '--detach', '--pid-file', join(bundle, 'pid'), '--bundle', bundle, id], { cwd: bundle, stdio: 'ignore' });
        child.once('error', reject);
        child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`runc run exited with ${code}`))));
      }),
  );
  await run(peer.runc, ['--root', peer.runcRoot, 'delete', '--force', id]);
  await rm(bundle, { recursive: true, force: true });
  return ms;
}
