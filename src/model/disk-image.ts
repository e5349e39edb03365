/**
 * What a disk image's content must be (image `type: disk`): qcow2 (version 2 or 3) without a
 * backing file or an external data file, or raw (whole 512-byte sectors). Read from the first
 * bytes, by the CLI before it uploads and by the API as the upload arrives; anything that looks
 * like another format (VMDK, VDI, VHDX, a compressed or tar file) is refused with what to do.
 *
 * Why the backing file matters: a qcow2 image that names one makes whoever opens it read that
 * file too. A hostile member's image naming /etc/shadow or another project's disk would hand the
 * node's files to its guest; the node checks again with qemu-img (node/agent/disks.ts).
 */
import type { DiskFormat } from './kinds/image.js';

/** Bytes of the head `diskImageOf` reads. */
export const DISK_HEAD_BYTES = 512;
/** Largest virtual size accepted (64 TiB, as a sanity bound on a header field). */
export const MAX_VIRTUAL_SIZE = 64 * 2 ** 40;
const SECTOR = 512;

const QCOW_MAGIC = 0x514649fb; // "QFI\xfb"
/**
 * qcow2 v3 incompatible feature bits QEMU knows: dirty (not shut down cleanly; QEMU repairs it
 * when it opens it, so accepted), corrupt, external data file, compression type, extended L2.
 */
const QCOW_CORRUPT = 2n;
const QCOW_DATA_FILE = 4n;
const QCOW_KNOWN_INCOMPATIBLE = 0x1fn;

/** What the head says: a format and, for qcow2, the virtual size (a raw image's is its length). */
export type DiskHead = { format: 'qcow2'; virtualSize: number } | { format: 'raw' } | { problem: string };

const CONVERT = 'convert it with `qemu-img convert -O qcow2 IN OUT.qcow2` and import that';

/** Other formats, by their magic, and what they are called. */
const FOREIGN: { at: number; magic: string; name: string }[] = [
  { at: 0, magic: '1f8b', name: 'a gzip-compressed file' },
  { at: 0, magic: 'fd377a585a00', name: 'an xz-compressed file' },
  { at: 0, magic: '28b52ffd', name: 'a zstd-compressed file' },
  { at: 0, magic: '425a68', name: 'a bzip2-compressed file' },
  { at: 0, magic: '4b444d56', name: 'a VMDK disk image' }, // "KDMV"
  { at: 0, magic: '2320446973', name: 'a VMDK descriptor' }, // "# Dis(k DescriptorFile)"
  { at: 0, magic: '7668647866696c65', name: 'a VHDX disk image' }, // "vhdxfile"
  { at: 0, magic: '636f6e6563746978', name: 'a dynamic VHD disk image' }, // "conectix"
  { at: 0, magic: '51454400', name: 'a QED disk image' }, // "QED\0"
  { at: 0x40, magic: '7f10dabe', name: 'a VirtualBox VDI disk image' },
  { at: 257, magic: '7573746172', name: 'a tar archive (a root filesystem: import it without --type disk)' }, // "ustar"
];

/** The format of a disk image from its first bytes (up to DISK_HEAD_BYTES), or why it is not one. */
export function diskImageOf(head: Uint8Array): DiskHead {
  if (head.length === 0) return { problem: 'is empty' };
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length >= 4 && view.getUint32(0) === QCOW_MAGIC) return qcowHead(view);
  const hex = Buffer.from(head).toString('hex');
  const foreign = FOREIGN.find((f) => hex.startsWith(f.magic, f.at * 2));
  if (foreign) return { problem: `is ${foreign.name}, not a qcow2 or raw disk image; ${CONVERT}` };
  return { format: 'raw' };
}

function qcowHead(view: DataView): DiskHead {
  if (view.byteLength < 72) return { problem: 'is a truncated qcow2 image (its header is cut short)' };
  const version = view.getUint32(4);
  if (version !== 2 && version !== 3) return { problem: `is a qcow2 image of version ${version}; only versions 2 and 3 are read (${CONVERT})` };
  if (view.getBigUint64(8) !== 0n) return { problem: 'is a qcow2 image with a backing file; images must stand alone: flatten it with `qemu-img convert -O qcow2 IN OUT.qcow2`' };
  if (view.getUint32(32) !== 0) return { problem: 'is an encrypted qcow2 image; import an unencrypted one (qemu-img convert -O qcow2)' };
  const clusterBits = view.getUint32(20);
  if (clusterBits < 9 || clusterBits > 21) return { problem: `is a qcow2 image with an invalid cluster size (2^${clusterBits} bytes)` };
  if (version === 3) {
    if (view.byteLength < 104) return { problem: 'is a truncated qcow2 image (its version 3 header is cut short)' };
    const bits = view.getBigUint64(72);
    if (bits & QCOW_DATA_FILE) return { problem: 'is a qcow2 image with an external data file; images must stand alone: flatten it with `qemu-img convert -O qcow2 IN OUT.qcow2`' };
    if (bits & QCOW_CORRUPT) return { problem: 'is a qcow2 image marked corrupt; repair it with `qemu-img check -r all` first' };
    if (bits & ~QCOW_KNOWN_INCOMPATIBLE) return { problem: `is a qcow2 image with unknown incompatible features (0x${bits.toString(16)}); ${CONVERT}` };
  }
  const size = view.getBigUint64(24);
  if (size === 0n) return { problem: 'is a qcow2 image with a virtual size of 0 bytes' };
  if (size > BigInt(MAX_VIRTUAL_SIZE)) return { problem: `is a qcow2 image of ${size} bytes virtual size; at most ${MAX_VIRTUAL_SIZE} (64 TiB)` };
  return { format: 'qcow2', virtualSize: Number(size) };
}

/** Why `bytes` is not the length of a raw disk image (whole sectors), if it is not. */
export function rawLengthProblem(bytes: number): string | undefined {
  if (bytes === 0) return 'is empty';
  if (bytes % SECTOR !== 0) return `is ${bytes} bytes, not a whole number of 512-byte sectors, so not a raw disk image (pad it: truncate -s %512 FILE), or ${CONVERT}`;
  return undefined;
}

/** The image status fields of an upload whose head is `head` and length `bytes`. */
export function diskStatus(head: Exclude<DiskHead, { problem: string }>, bytes: number): { format: DiskFormat; virtualSize: number } {
  return head.format === 'qcow2' ? head : { format: 'raw', virtualSize: bytes };
}
