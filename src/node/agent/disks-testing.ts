/** Test support for VM disks: whether qemu-img is here, and disk images it makes. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** Whether qemu-img runs on this machine (tests that need it skip without it). */
export const hasQemuImg = (() => {
  try {
    execFileSync('qemu-img', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** `qemu-img create -f FORMAT [extra] DIR/NAME SIZE`; the file's path. */
export function qemuImgCreate(dir: string, name: string, format: string, size: number, extra: string[] = []): string {
  const file = join(dir, name);
  execFileSync('qemu-img', ['create', '-q', '-f', format, ...extra, file, String(size)]);
  return file;
}
