import { describe, it, expect } from 'vitest';
import { diskImageOf, diskStatus, rawLengthProblem, DISK_HEAD_BYTES } from './disk-image.js';

/** A qcow2 header as `qemu-img create -f qcow2` writes it (1 GiB, 64 KiB clusters), with fields to override. */
function qcow2(o: { version?: number; backing?: bigint; size?: bigint; crypt?: number; incompatible?: bigint; clusterBits?: number } = {}): Buffer {
  const b = Buffer.alloc(DISK_HEAD_BYTES);
  b.writeUInt32BE(0x514649fb, 0);
  b.writeUInt32BE(o.version ?? 3, 4);
  b.writeBigUInt64BE(o.backing ?? 0n, 8);
  b.writeUInt32BE(o.clusterBits ?? 16, 20);
  b.writeBigUInt64BE(o.size ?? 1n << 30n, 24);
  b.writeUInt32BE(o.crypt ?? 0, 32);
  b.writeBigUInt64BE(o.incompatible ?? 0n, 72);
  b.writeUInt32BE(104, 100);
  return b;
}

function withMagic(hex: string, at = 0): Buffer {
  const b = Buffer.alloc(DISK_HEAD_BYTES, 0x41);
  Buffer.from(hex, 'hex').copy(b, at);
  return b;
}

describe('diskImageOf', () => {
  it('reads a qcow2 image\'s virtual size, versions 2 and 3', () => {
    expect(diskImageOf(qcow2())).toEqual({ format: 'qcow2', virtualSize: 2 ** 30 });
    expect(diskImageOf(qcow2({ version: 2, size: 64n << 20n }).subarray(0, 72))).toEqual({ format: 'qcow2', virtualSize: 64 * 2 ** 20 });
    expect(diskImageOf(qcow2({ incompatible: 1n }))).toMatchObject({ format: 'qcow2' }); // dirty: QEMU repairs it
  });

  it('takes anything without another format\'s magic as raw', () => {
    expect(diskImageOf(Buffer.alloc(DISK_HEAD_BYTES))).toEqual({ format: 'raw' });
    expect(diskImageOf(Buffer.from('\xeb\x63\x90 boot sector', 'latin1'))).toEqual({ format: 'raw' });
  });

  it.each([
    ['empty', Buffer.alloc(0), /^is empty$/],
    ['backing file', qcow2({ backing: 0x210n }), /^is a qcow2 image with a backing file; images must stand alone/],
    ['external data file', qcow2({ incompatible: 4n }), /^is a qcow2 image with an external data file/],
    ['corrupt', qcow2({ incompatible: 2n }), /marked corrupt/],
    ['unknown feature', qcow2({ incompatible: 0x40n }), /unknown incompatible features \(0x40\)/],
    ['encrypted', qcow2({ crypt: 1 }), /encrypted qcow2/],
    ['version 1', qcow2({ version: 1 }), /of version 1; only versions 2 and 3/],
    ['zero size', qcow2({ size: 0n }), /virtual size of 0 bytes/],
    ['huge size', qcow2({ size: 1n << 50n }), /at most 70368744177664 \(64 TiB\)/],
    ['bad clusters', qcow2({ clusterBits: 30 }), /invalid cluster size/],
    ['truncated', qcow2().subarray(0, 40), /truncated qcow2/],
    ['truncated v3', qcow2().subarray(0, 80), /version 3 header is cut short/],
    ['vmdk', withMagic('4b444d56'), /^is a VMDK disk image, not a qcow2 or raw disk image; convert it with `qemu-img convert -O qcow2/],
    ['vdi', withMagic('7f10dabe', 0x40), /VirtualBox VDI/],
    ['vhdx', withMagic('7668647866696c65'), /VHDX/],
    ['gzip', withMagic('1f8b08'), /gzip-compressed/],
    ['tar', withMagic('7573746172', 257), /tar archive \(a root filesystem: import it without --type disk\)/],
  ])('refuses %s', (_what, head, want) => {
    const got = diskImageOf(head);
    expect('problem' in got ? got.problem : got).toMatch(want);
  });
});

describe('raw images', () => {
  it('are whole sectors and as big as they are long', () => {
    expect(rawLengthProblem(1 << 20)).toBeUndefined();
    expect(rawLengthProblem(0)).toBe('is empty');
    expect(rawLengthProblem(1000)).toMatch(/^is 1000 bytes, not a whole number of 512-byte sectors/);
    expect(diskStatus({ format: 'raw' }, 4096)).toEqual({ format: 'raw', virtualSize: 4096 });
    expect(diskStatus({ format: 'qcow2', virtualSize: 2 ** 30 }, 196608)).toEqual({ format: 'qcow2', virtualSize: 2 ** 30 });
  });
});
