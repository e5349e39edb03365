/**
 * Test fixtures for VMs: the image of scripts/build-vm-image.sh, built once per version of the
 * script and kept (in /var/cache/stratus, else the OS tmpdir) so a test run, and the next one,
 * reuse it; and per-test copy-on-write overlays on it.
 *
 *   const base = await builtVmImage();            // ~6 s the first time, then the cached file
 *   const root = await vmOverlay(base, dir);      // <dir>/root.qcow2, backed by base
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants as fsc, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findExecutableSync, DEFAULT_PATH } from '../commands.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const BUILD_SCRIPT = join(repoRoot, 'scripts', 'build-vm-image.sh');

/** Why VM tests cannot run here (a missing tool), or undefined when they can. */
export function vmTestsUnavailable(): string | undefined {
  for (const [bin, pkg] of [
    ['qemu-system-x86_64', 'qemu-system-x86'],
    ['qemu-img', 'qemu-utils'],
    ['cloud-localds', 'cloud-image-utils'],
    ['syslinux', 'syslinux'],
    ['mcopy', 'mtools'],
    ['mkfs.vfat', 'dosfstools'],
  ] as const) {
    if (!findExecutableSync(bin, DEFAULT_PATH, '/')) return `${bin} is not installed (Debian package ${pkg}; scripts/install-deps.sh)`;
  }
  if (process.getuid?.() !== 0) return 'VM tests need root (taps, cgroups)';
  return undefined;
}

function cacheDir(): string {
  for (const dir of [process.env.STRATUS_VM_CACHE, '/var/cache/stratus', join(tmpdir(), 'stratus-cache')]) {
    if (!dir) continue;
    try {
      mkdirSync(dir, { recursive: true });
      accessSync(dir, fsc.W_OK);
      return dir;
    } catch {
      // next
    }
  }
  return tmpdir();
}

let building: Promise<string> | undefined;

/**
 * Path of the built image (qcow2), building it on first use; the same path while the script is
 * unchanged. Test files run in parallel processes: one builds (a directory made with mkdir is the
 * lock) into a temporary name renamed into place, so nobody sees a half-written image; the others wait.
 */
export function builtVmImage(): Promise<string> {
  building ??= (async () => {
    const hash = createHash('sha256').update(readFileSync(BUILD_SCRIPT)).digest('hex').slice(0, 16);
    const out = join(cacheDir(), `vm-image-${hash}.qcow2`);
    const lock = `${out}.lock`;
    for (;;) {
      if (existsSync(out)) return out;
      try {
        mkdirSync(lock);
      } catch {
        // another process builds it; a lock older than 10 minutes was left by a killed build
        if (Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 600_000) rmSync(lock, { recursive: true, force: true });
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      try {
        const tmp = `${out}.${process.pid}.tmp`;
        await run(BUILD_SCRIPT, [tmp], 600_000);
        renameSync(tmp, out);
        return out;
      } finally {
        rmSync(lock, { recursive: true, force: true });
      }
    }
  })();
  return building;
}

/** A qcow2 overlay on `base` at `<dir>/<name>`, optionally grown to `sizeMiB`. */
export async function vmOverlay(base: string, dir: string, name = 'root.qcow2', sizeMiB?: number): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, path, ...(sizeMiB ? [`${sizeMiB}M`] : [])], 30_000);
  return path;
}

function run(cmd: string, args: string[], timeout: number): Promise<void> {
  return new Promise((res, rej) => {
    execFile(cmd, args, { timeout }, (err, _out, stderr) => (err ? rej(new Error(`${cmd} failed: ${String(stderr).trim() || err.message}`)) : res()));
  });
}
