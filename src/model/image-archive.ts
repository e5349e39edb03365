/**
 * What an image's content must be: a root filesystem as a tar archive (optionally gzip-compressed).
 * Checked on the first bytes, by the CLI before it uploads and by the API as the upload arrives.
 */

/** Bytes of the head `archiveProblem` reads: one tar header block. */
export const ARCHIVE_HEAD_BYTES = 512;

/** Why `head` (the first bytes of an upload) is not a root filesystem archive; undefined when it is one. */
export function archiveProblem(head: Uint8Array): string | undefined {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return undefined; // gzip
  if (head.length === 0) return 'is empty';
  if (head.length >= 262 && Buffer.from(head.subarray(257, 262)).toString('latin1') === 'ustar') return undefined; // POSIX and GNU tar
  return 'is not a tar archive (nor a gzip-compressed one): an image is a root filesystem, as a directory or `tar -C DIR -cf image.tar .`';
}
