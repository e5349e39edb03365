/**
 * Which accelerator a VM gets: KVM only where it provably runs a guest, else TCG (emulation).
 *
 * /dev/kvm existing, or even KVM_CREATE_VM succeeding, is not enough: under some nested
 * hypervisors KVM runs the firmware and then fails in the boot loader ("emulation failure") or
 * hangs. So `auto` runs a probe guest: QEMU's own SeaBIOS, with no disk, under KVM, and waits for
 * its "No bootable device." on the debug port (0x402), which it prints once POST is through
 * (well under a second under a working KVM; a hung one never prints it). It also fails the probe
 * when QEMU warns that KVM's CPU lacks features of the default guest CPU model ("host doesn't
 * support requested feature": on the machine this was written on, KVM hides even SSE3, SeaBIOS
 * gets through and every real guest then dies in its boot loader).
 */
import { spawn } from 'node:child_process';
import { access, constants as fsc, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { dirname } from 'node:path';
import type { Accel } from './argv.js';

export type AccelMode = 'auto' | Accel;

export interface AccelChoice {
  accel: Accel;
  /** One line for a person, e.g. "KVM probe guest did not finish its firmware within 5000 ms: using TCG". */
  reason: string;
}

/** The probe's QEMU arguments: SeaBIOS with no disk, its log on stdout. */
export function probeArgs(accel: Accel): string[] {
  return ['-nodefaults', '-no-user-config', '-display', 'none', '-machine', 'pc', '-accel', accel, '-m', '16M', '-chardev', 'stdio,id=dbg', '-device', 'isa-debugcon,iobase=0x402,chardev=dbg'];
}

export const PROBE_DONE = 'No bootable device';
export const MISSING_FEATURE = "host doesn't support requested feature";

export type ProbeResult = { ok: true } | { ok: false; why: string };

/** Runs the probe guest under `accel` for at most `timeoutMs`. Never throws. */
export function probeGuest(qemu: string, accel: Accel, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let out = '';
    let err = '';
    let settled = false;
    const child = spawn(qemu, probeArgs(accel), { stdio: ['ignore', 'pipe', 'pipe'] });
    // Judged once QEMU is gone and both pipes are drained: its warnings come before the firmware runs.
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
    };
    const judge = () => resolve(judgeProbe(out, err, timeoutMs));
    child.on('close', judge);
    child.on('exit', () => setTimeout(judge, 200).unref()); // a child of QEMU's holding the pipes must not hold the verdict
    const timer = setTimeout(done, timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out = (out + d).slice(-4096);
      if (out.includes(PROBE_DONE)) done();
    });
    child.stderr.on('data', (d: string) => (err = (err + d).slice(-4096)));
    child.on('error', (e) => {
      err += e.message;
      done();
      judge(); // no 'close' follows a failed spawn
    });
  });
}

/** The probe's verdict from its firmware log and QEMU's messages. Pure. */
export function judgeProbe(firmware: string, messages: string, timeoutMs: number): ProbeResult {
  const feature = messages.split('\n').find((l) => l.includes(MISSING_FEATURE));
  if (feature) return { ok: false, why: `KVM's CPU lacks what the guest CPU model needs (${feature.replace(/^.*warning: /, '').trim()})` };
  if (!firmware.includes(PROBE_DONE)) return { ok: false, why: `a KVM probe guest did not get through its firmware within ${timeoutMs} ms${messages.trim() ? ` (${messages.trim().split('\n').pop()})` : ''}` };
  return { ok: true };
}

/**
 * Picks the accelerator for `mode`. `kvm` and `tcg` are taken as told (kvm still needs a usable
 * /dev/kvm); `auto` is KVM only when the probe guest runs under it.
 */
export async function chooseAccel(mode: AccelMode, qemu: string, opts: { kvmDevice?: string; probeTimeoutMs?: number } = {}): Promise<AccelChoice> {
  if (mode === 'tcg') return { accel: 'tcg', reason: 'TCG: set by --vm-accel tcg' };
  const dev = opts.kvmDevice ?? '/dev/kvm';
  const usable = await access(dev, fsc.R_OK | fsc.W_OK).then(
    () => true,
    () => false,
  );
  if (mode === 'kvm') return usable ? { accel: 'kvm', reason: 'KVM: set by --vm-accel kvm' } : { accel: 'tcg', reason: `TCG: --vm-accel kvm, but ${dev} is missing or not usable` };
  if (!usable) return { accel: 'tcg', reason: `TCG (emulation, slow): ${dev} is missing or not usable` };
  const probe = await probeGuest(qemu, 'kvm', opts.probeTimeoutMs ?? 5000);
  if (probe.ok) return { accel: 'kvm', reason: 'KVM: the probe guest ran' };
  return { accel: 'tcg', reason: `TCG (emulation, slow): ${dev} exists, but ${probe.why}` };
}

/** Where `auto`'s verdict is kept for this boot (tmpfs): every agent of the machine probes once, not at each start. */
export const ACCEL_CACHE = '/run/stratus/vm-accel.json';

/**
 * chooseAccel for `auto`, remembered in `file` per (qemu binary, kernel release, device) until the
 * machine reboots; `kvm` and `tcg` are not cached (they are cheap). A cache that cannot be read or
 * written is ignored.
 */
export async function chooseAccelCached(mode: AccelMode, qemu: string, opts: { kvmDevice?: string; probeTimeoutMs?: number; file?: string } = {}): Promise<AccelChoice> {
  if (mode !== 'auto') return chooseAccel(mode, qemu, opts);
  const file = opts.file ?? ACCEL_CACHE;
  const key = `${qemu}|${release()}|${opts.kvmDevice ?? '/dev/kvm'}`;
  const cached = await readFile(file, 'utf8').then((t) => JSON.parse(t) as { key?: string; choice?: AccelChoice }, () => undefined);
  if (cached?.key === key && (cached.choice?.accel === 'kvm' || cached.choice?.accel === 'tcg') && typeof cached.choice.reason === 'string') return cached.choice;
  const choice = await chooseAccel(mode, qemu, opts);
  const tmp = `${file}.${process.pid}.tmp`;
  await mkdir(dirname(file), { recursive: true, mode: 0o755 })
    .then(() => writeFile(tmp, JSON.stringify({ key, choice }), { mode: 0o644 }))
    .then(() => rename(tmp, file))
    .catch(() => undefined);
  return choice;
}
