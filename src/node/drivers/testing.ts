/** Fixtures for driver tests (and the agent's): a Task with a normalized spec, overridable field by field. */
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RunSpec } from '../../model/kinds/instance.js';
import type { Task } from './driver.js';
import { TaskCgroup, type CgroupHost } from './cgroups.js';

let seq = 0;

export interface TaskOverrides extends Partial<Omit<Task, 'spec'>> {
  spec?: Partial<RunSpec>;
  /** Shorthand for spec.resources: millicores and MiB. */
  cpu?: number;
  memory?: number;
}

/** A process task running `command` in `<baseDir>/<id>`, 100m / 128 MiB unless told otherwise. */
export function makeTask(baseDir: string, command: string[] | undefined, o: TaskOverrides = {}): Task {
  const n = ++seq;
  const id = o.id ?? `test.t${n}.${process.pid}`;
  const spec: RunSpec = {
    driver: 'process',
    ...(command ? { command } : {}),
    resources: { cpu: o.cpu ?? 100, memory: o.memory ?? 128, disk: 0 },
    priority: 0,
    restartPolicy: 'never',
    gracePeriod: 10,
    ...o.spec,
  };
  return {
    id,
    instance: o.instance ?? { project: 'test', name: `t${n}`, uid: `uid-${n}` },
    dir: o.dir ?? `${baseDir}/${id}`,
    spec,
    ...(o.netns ? { netns: o.netns } : {}),
    ...(o.env ? { env: o.env } : {}),
    ...(o.files ? { files: o.files } : {}),
    ...(o.mounts ? { mounts: o.mounts } : {}),
    ...(o.devices ? { devices: o.devices } : {}),
  };
}

/**
 * Removes the test's cgroup parent, with any task cgroup a failed test left in it, in every
 * hierarchy (runc also creates the parent in blkio, devices, cpuset, name=systemd, ...).
 */
export async function removeCgroupTree(host: CgroupHost, parent: string): Promise<void> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => / - cgroup2? /.test(l))
    .map((l) => l.split(' ')[4]!);
  for (const dir of TaskCgroup.at(host, parent).dirs()) {
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) await TaskCgroup.at(host, `${parent}/${e.name}`).remove();
  }
  for (const m of mounts) {
    const dir = join(m, parent);
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmdirSync(join(dir, e.name));
    rmdirSync(dir);
  }
}
