import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseAccel, chooseAccelCached, judgeProbe, probeArgs } from './accel.js';

const dir = mkdtempSync(join(tmpdir(), 'stratus-accel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in for qemu-system-x86_64: a script printing `stderr` (QEMU warns before the guest runs), then `stdout`, then sleeping `sleep` seconds; it logs its calls. */
function fakeQemu(name: string, o: { stdout?: string; stderr?: string; sleep?: number }): string {
  const path = join(dir, name);
  writeFileSync(`${path}.out`, o.stdout ?? '');
  writeFileSync(`${path}.err`, o.stderr ?? '');
  writeFileSync(path, `#!/bin/sh\necho "$@" >> ${path}.calls\ncat ${path}.err >&2\ncat ${path}.out\nexec sleep ${o.sleep ?? 0}\n`);
  chmodSync(path, 0o755);
  return path;
}
const kvmDevice = join(dir, 'kvm');
writeFileSync(kvmDevice, '');
const calls = (qemu: string) => readFileSync(`${qemu}.calls`, 'utf8').trim().split('\n');

describe('judgeProbe', () => {
  it.each([
    ['firmware through, no warning', 'SeaBIOS\nNo bootable device.\n', '', { ok: true }],
    ['firmware hung', 'SeaBIOS\n', '', { ok: false, why: 'a KVM probe guest did not get through its firmware within 5000 ms' }],
    [
      'a CPU feature missing',
      'No bootable device.\n',
      "qemu-system-x86_64: warning: host doesn't support requested feature: CPUID.01H:ECX.pni [bit 0]\n",
      { ok: false, why: "KVM's CPU lacks what the guest CPU model needs (host doesn't support requested feature: CPUID.01H:ECX.pni [bit 0])" },
    ],
    ['QEMU refused', '', 'qemu-system-x86_64: failed to initialize kvm: Permission denied\n', { ok: false, why: 'a KVM probe guest did not get through its firmware within 5000 ms (qemu-system-x86_64: failed to initialize kvm: Permission denied)' }],
  ])('%s', (_what, firmware, messages, want) => {
    expect(judgeProbe(firmware, messages, 5000)).toEqual(want);
  });
});

describe('chooseAccel', () => {
  it('takes tcg as told, and kvm only with a usable device', async () => {
    expect((await chooseAccel('tcg', '/nonexistent')).accel).toBe('tcg');
    expect(await chooseAccel('kvm', '/nonexistent', { kvmDevice })).toEqual({ accel: 'kvm', reason: 'KVM: set by --vm-accel kvm' });
    expect(await chooseAccel('kvm', '/nonexistent', { kvmDevice: join(dir, 'none') })).toMatchObject({ accel: 'tcg', reason: expect.stringMatching(/missing or not usable/) });
  });

  it('auto: KVM when the probe guest gets through its firmware under KVM', async () => {
    const qemu = fakeQemu('good', { stdout: 'SeaBIOS\nNo bootable device.\n', sleep: 30 });
    expect(await chooseAccel('auto', qemu, { kvmDevice })).toEqual({ accel: 'kvm', reason: 'KVM: the probe guest ran' });
    expect(calls(qemu)).toEqual([probeArgs('kvm').join(' ')]);
  });

  it('auto: TCG when the probe hangs or KVM hides CPU features, saying why', async () => {
    const hung = fakeQemu('hung', { stdout: 'SeaBIOS\n', sleep: 30 });
    expect(await chooseAccel('auto', hung, { kvmDevice, probeTimeoutMs: 300 })).toMatchObject({ accel: 'tcg', reason: expect.stringMatching(/did not get through its firmware within 300 ms/) });
    const nested = fakeQemu('nested', { stdout: 'No bootable device.\n', stderr: "warning: host doesn't support requested feature: CPUID.01H:ECX.pni [bit 0]\n", sleep: 1 });
    expect(await chooseAccel('auto', nested, { kvmDevice })).toMatchObject({ accel: 'tcg', reason: expect.stringMatching(/lacks what the guest CPU model needs/) });
    expect(await chooseAccel('auto', hung, { kvmDevice: join(dir, 'none') })).toMatchObject({ accel: 'tcg', reason: expect.stringMatching(/missing or not usable/) });
  });

  it('auto: probes once per machine boot (the verdict is cached per QEMU binary)', async () => {
    const qemu = fakeQemu('cached', { stdout: 'No bootable device.\n' });
    const file = join(dir, 'accel.json');
    const first = await chooseAccelCached('auto', qemu, { kvmDevice, file });
    expect(await chooseAccelCached('auto', qemu, { kvmDevice, file })).toEqual(first);
    expect(calls(qemu)).toHaveLength(1);
    const other = fakeQemu('other', { stdout: 'SeaBIOS\n' });
    expect((await chooseAccelCached('auto', other, { kvmDevice, file, probeTimeoutMs: 200 })).accel).toBe('tcg');
  });
});
