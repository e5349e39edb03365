import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DriverError, type Task } from '../driver.js';
import { makeTask } from '../testing.js';
import { buildSeed, seedFiles } from './seed.js';

const vmTask = (o: Partial<Task> = {}, spec: Record<string, unknown> = {}): Task => ({
  ...makeTask('/tmp/x', undefined, { spec: { driver: 'vm', ...spec } as never }),
  instance: { project: 'p', name: 'web-1', uid: '6f1c2d' },
  ...o,
});

describe('seedFiles', () => {
  it('names the instance, passes user data through as given, and lists SSH keys', () => {
    const f = seedFiles(vmTask({}, { userData: '#!/bin/sh\necho hi\n', sshKeys: ['ssh-ed25519 AAAAC3 a@b'] }), undefined);
    expect(f.metaData).toBe('instance-id: "6f1c2d"\nlocal-hostname: "web-1"\npublic-keys:\n  - "ssh-ed25519 AAAAC3 a@b"\n');
    expect(f.userData).toBe('#!/bin/sh\necho hi\n');
    expect(f.networkConfig).toBeUndefined();
    expect(seedFiles(vmTask(), undefined).userData).toBe('#cloud-config\n');
  });

  it('writes the static address, gateway, MTU and DNS of a tap NIC, matched by its MAC', () => {
    const task = vmTask({ tap: { name: 'stt1', mac: '52:54:00:12:34:56' }, guestNetwork: { address: '10.80.0.5/24', gateway: '10.80.0.1', dns: ['10.80.0.1'], searchDomains: ['p.stratus.internal'], mtu: 1450 } });
    expect(seedFiles(task, '52:54:00:12:34:56').networkConfig).toBe(
      [
        'version: 2',
        'ethernets:',
        '  eth0:',
        '    match:',
        '      macaddress: "52:54:00:12:34:56"',
        '    set-name: eth0',
        '    addresses: ["10.80.0.5/24"]',
        '    gateway4: "10.80.0.1"',
        '    mtu: 1450',
        '    nameservers:',
        '      addresses: ["10.80.0.1"]',
        '      search: ["p.stratus.internal"]',
        '',
      ].join('\n'),
    );
  });

  it('asks for DHCP on user-mode networking', () => {
    const f = seedFiles(vmTask({ userNet: { forwards: [] } }), '52:54:00:00:00:01');
    expect(f.networkConfig).toMatch(/macaddress: "52:54:00:00:00:01"\n {4}set-name: eth0\n {4}dhcp4: true\n$/);
  });

  it('quotes every value, so a hostile value cannot add YAML keys', () => {
    const f = seedFiles(vmTask({ instance: { project: 'p', name: 'x', uid: 'u' } }, { sshKeys: ['ssh-rsa AAAA x"\nuser-data: evil'] }), undefined);
    expect(f.metaData.split('\n').filter((l) => /^\S/.test(l)).map((l) => l.split(':')[0])).toEqual(['instance-id', 'local-hostname', 'public-keys']);
  });
});

const haveLocalds = (() => {
  try {
    execFileSync('cloud-localds', ['--help'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('buildSeed', () => {
  it('says which package is missing without cloud-localds', async () => {
    const err = await buildSeed('/tmp/nowhere', { metaData: '', userData: '' }, undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect(err).toMatchObject({ code: 'NOT_AVAILABLE', message: expect.stringMatching(/cloud-image-utils/) });
  });

  it.skipIf(!haveLocalds)('makes an iso9660 disk labelled cidata holding the three files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-seed-'));
    try {
      const img = await buildSeed(dir, seedFiles(vmTask({ userNet: { forwards: [] } }), '52:54:00:00:00:01'), 'cloud-localds');
      expect(existsSync(img)).toBe(true);
      const label = execFileSync('blkid', ['-o', 'value', '-s', 'LABEL', img]).toString().trim();
      expect(label.toLowerCase()).toBe('cidata');
      const listing = execFileSync('isoinfo', ['-f', '-R', '-i', img]).toString();
      expect(listing.split('\n').filter(Boolean).sort()).toEqual(['/meta-data', '/network-config', '/user-data']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
