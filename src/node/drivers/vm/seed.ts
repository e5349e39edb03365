/**
 * The NoCloud seed of a VM: a small disk labelled `cidata` with three files cloud-init (and the
 * image of scripts/build-vm-image.sh) reads at boot:
 *
 *   meta-data       instance-id (the instance's uid), local-hostname (its name), public-keys (spec.sshKeys)
 *   user-data       spec.userData as given (a #cloud-config document or a #! script), else "#cloud-config"
 *   network-config  v2: eth0 with task.guestNetwork's static address, gateway, MTU and DNS;
 *                   DHCP for user-mode networking; absent when the guest has no NIC
 *
 * The disk is made by `cloud-localds` (Debian's cloud-image-utils, iso9660). Every value is
 * written as a JSON string, which YAML reads back verbatim, so no user text can add YAML keys.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DriverError, type Task } from '../driver.js';

export interface SeedFiles {
  metaData: string;
  userData: string;
  networkConfig?: string;
}

/** What the vm driver reads from a spec (fields of the instance schema for VMs). */
interface VmSpecFields {
  userData?: string;
  sshKeys?: string[];
}

const q = (s: string) => JSON.stringify(s);

/** The seed's files for `task`. Pure. `mac`: the guest NIC's address, matched by network-config. */
export function seedFiles(task: Task, mac: string | undefined): SeedFiles {
  const spec = task.spec as typeof task.spec & VmSpecFields;
  const meta = [`instance-id: ${q(task.instance.uid)}`, `local-hostname: ${q(task.instance.name)}`];
  if (spec.sshKeys?.length) meta.push('public-keys:', ...spec.sshKeys.map((k) => `  - ${q(k)}`));
  const networkConfig = mac === undefined ? undefined : networkConfigFor(task, mac);
  return {
    metaData: `${meta.join('\n')}\n`,
    userData: spec.userData ?? '#cloud-config\n',
    ...(networkConfig ? { networkConfig } : {}),
  };
}

function networkConfigFor(task: Task, mac: string): string {
  const lines = ['version: 2', 'ethernets:', '  eth0:', '    match:', `      macaddress: ${q(mac)}`, '    set-name: eth0'];
  const g = task.tap ? task.guestNetwork : undefined;
  if (!g) return [...lines, '    dhcp4: true', ''].join('\n');
  lines.push(`    addresses: [${q(g.address)}]`);
  if (g.gateway) lines.push(`    gateway4: ${q(g.gateway)}`);
  if (g.mtu) lines.push(`    mtu: ${Math.floor(g.mtu)}`);
  if (g.dns?.length || g.searchDomains?.length) {
    lines.push('    nameservers:');
    if (g.dns?.length) lines.push(`      addresses: [${g.dns.map(q).join(', ')}]`);
    if (g.searchDomains?.length) lines.push(`      search: [${g.searchDomains.map(q).join(', ')}]`);
  }
  return [...lines, ''].join('\n');
}

/**
 * Writes the files into `<dir>/seed/` and makes `<dir>/seed.img` with cloud-localds; resolves with
 * the image's path. Throws NOT_AVAILABLE when cloud-localds is missing, START_FAILED when it fails.
 */
export async function buildSeed(dir: string, files: SeedFiles, cloudLocalds: string | undefined): Promise<string> {
  if (!cloudLocalds) throw new DriverError('NOT_AVAILABLE', "a VM's seed disk needs cloud-localds: run scripts/install-deps.sh (Debian package cloud-image-utils)");
  const src = join(dir, 'seed');
  await mkdir(src, { recursive: true, mode: 0o700 });
  const at = (f: string) => join(src, f);
  await writeFile(at('meta-data'), files.metaData, { mode: 0o600 });
  await writeFile(at('user-data'), files.userData, { mode: 0o600 });
  const args: string[] = [];
  if (files.networkConfig !== undefined) {
    await writeFile(at('network-config'), files.networkConfig, { mode: 0o600 });
    args.push(`--network-config=${at('network-config')}`);
  }
  const image = join(dir, 'seed.img');
  args.push(image, at('user-data'), at('meta-data'));
  await new Promise<void>((resolve, reject) => {
    execFile(cloudLocalds, args, { timeout: 30_000 }, (err, _out, stderr) => {
      if (err) reject(new DriverError('START_FAILED', `cloud-localds failed: ${String(stderr).trim().split('\n').pop() || err.message}`));
      else resolve();
    });
  });
  return image;
}
