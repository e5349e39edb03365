/**
 * The bootable disk image VM tests use: scripts/build-vm-image.sh's output, built once per version
 * of the script and kept (`/var/cache/stratus/vm-image-<hash>.qcow2`, else under the OS tmpdir),
 * so a CI run builds it once and later runs and test files reuse it. Concurrent callers (test
 * files in parallel) wait for one build: a directory made with mkdir is the lock.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './server.js';
import { hasCommand } from './tenants.js';
import { sleep } from './processes.js';

const SCRIPT = join(ROOT, 'scripts', 'build-vm-image.sh');

/** Why VMs cannot be booted here, or undefined when they can. */
export function vmSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (QEMU opens taps and disks as root, then drops privileges)';
  for (const [cmd, pkg] of [['qemu-system-x86_64', 'qemu-system-x86'], ['qemu-img', 'qemu-utils'], ['mcopy', 'mtools'], ['syslinux', 'syslinux'], ['mkfs.vfat', 'dosfstools']] as const) {
    if (!hasCommand(cmd)) return `needs ${cmd} (the Debian package ${pkg}; scripts/install-deps.sh)`;
  }
  return undefined;
}

function cacheDir(): string {
  for (const d of ['/var/cache/stratus', join(tmpdir(), 'stratus-cache')]) {
    try {
      mkdirSync(d, { recursive: true });
      return d;
    } catch { /* next */ }
  }
  return tmpdir();
}

/** The image's path, built now if this version of the script has not built one yet. May take a minute. */
export async function vmImage(): Promise<string> {
  const hash = createHash('sha256').update(readFileSync(SCRIPT)).digest('hex').slice(0, 16);
  const dir = cacheDir();
  const out = join(dir, `vm-image-${hash}.qcow2`);
  const lock = `${out}.lock`;
  for (;;) {
    if (existsSync(out)) return out;
    try {
      mkdirSync(lock);
    } catch {
      // another process builds it; a lock older than 10 minutes was left by a killed build
      if (Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 600_000) rmSync(lock, { recursive: true, force: true });
      await sleep(500);
      continue;
    }
    try {
      const tmp = `${out}.${process.pid}.tmp`;
      const r = spawnSync('sh', [SCRIPT, tmp], { encoding: 'utf8', timeout: 600_000 });
      if (r.status !== 0) throw new Error(`scripts/build-vm-image.sh failed (${r.status ?? r.signal}):\n${r.stderr.slice(-4000)}`);
      renameSync(tmp, out);
      return out;
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}
