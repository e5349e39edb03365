/**
 * The tar streams of `stratus cp` (tar over exec: the instance runs its own `tar`). Written here
 * rather than by a local tar so that the CLI decides what lands on this machine:
 *
 *   pack    a local file or directory as a tar stream, its top entry renamed (GNU long names)
 *   unpack  a tar stream from an instance into a local directory, refusing every entry that
 *           would land outside it: absolute names, "..", writes through symlinks (an instance's
 *           tar is input from someone else); no devices, no set-id bits, hard links skipped
 */
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, readlink, symlink, unlink, utimes } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';

const BLOCK = 512;

export interface TarEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  size: number;
  mtime: number;
  linkname?: string;
}

/** One header block (plus GNU long-name records before it when a name does not fit). */
export function header(e: TarEntry): Buffer {
  const out: Buffer[] = [];
  if (Buffer.byteLength(e.name) > 99) out.push(...longRecord('L', e.name));
  if (e.linkname && Buffer.byteLength(e.linkname) > 99) out.push(...longRecord('K', e.linkname));
  out.push(block(e.name, e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2', e.mode, e.type === 'file' ? e.size : 0, e.mtime, e.linkname ?? ''));
  return Buffer.concat(out);
}

function longRecord(type: 'L' | 'K', value: string): Buffer[] {
  const data = Buffer.from(`${value}\0`);
  return [block('././@LongLink', type, 0o644, data.length, 0, ''), pad(data)];
}

function block(name: string, type: string, mode: number, size: number, mtime: number, linkname: string): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(name, 0, 100, 'utf8');
  b.write(octal(mode & 0o7777, 7), 100);
  b.write(octal(0, 7), 108);
  b.write(octal(0, 7), 116);
  b.write(octal(size, 11), 124);
  b.write(octal(Math.max(0, Math.floor(mtime)), 11), 136);
  b.write(type, 156);
  b.write(linkname, 157, 100, 'utf8');
  b.write('ustar  \0', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

function octal(n: number, digits: number): string {
  if (n >= 8 ** digits) throw new Error(`${n} does not fit a tar header (files up to 8 GiB)`);
  return `${n.toString(8).padStart(digits, '0')}\0`;
}

function pad(data: Buffer): Buffer {
  const rest = data.length % BLOCK;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rest)]);
}

/**
 * A tar stream of `path` (a file, a directory and what it holds, or a symlink as such), its top
 * entry named `name`. `warn` hears about what is left out (sockets, devices).
 */
export function pack(path: string, name: string, warn: (msg: string) => void): Readable {
  const out = new PassThrough();
  const write = (b: Buffer) => (out.write(b) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  const walk = async (p: string, n: string): Promise<void> => {
    const st = await lstat(p);
    const mtime = st.mtimeMs / 1000;
    if (st.isSymbolicLink()) return write(header({ name: n, type: 'symlink', mode: 0o777, size: 0, mtime, linkname: await readlink(p) }));
    if (st.isDirectory()) {
      await write(header({ name: `${n}/`, type: 'dir', mode: st.mode, size: 0, mtime }));
      for (const child of (await readdir(p)).sort()) await walk(join(p, child), `${n}/${child}`);
      return;
    }
    if (!st.isFile()) return warn(`${p}: not a file, directory or symlink: left out`);
    await write(header({ name: n, type: 'file', mode: st.mode, size: st.size, mtime }));
    let sent = 0;
    if (st.size > 0) {
      for await (const chunk of createReadStream(p, { end: st.size - 1 }) as AsyncIterable<Buffer>) {
        sent += chunk.length;
        await write(chunk);
      }
    }
    if (sent < st.size) throw new Error(`${p} shrank while it was read`);
    if (st.size % BLOCK) await write(Buffer.alloc(BLOCK - (st.size % BLOCK)));
  };
  walk(path, name).then(() => out.end(Buffer.alloc(2 * BLOCK)), (e: Error) => out.destroy(e));
  return out;
}

/** Reads exactly n bytes at a time from a stream of chunks. */
class Blocks {
  private buf: Buffer = Buffer.alloc(0);
  private readonly it: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** n bytes, or undefined when the stream ended first. */
  async read(n: number): Promise<Buffer | undefined> {
    while (this.buf.length < n) {
      const next = await this.it.next();
      if (next.done) return undefined;
      this.buf = this.buf.length ? Buffer.concat([this.buf, next.value]) : next.value;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Calls `each` with the next `size` bytes in pieces, then skips the padding. */
  async content(size: number, each: (chunk: Buffer) => Promise<void>): Promise<void> {
    let left = size;
    while (left > 0) {
      const chunk = await this.read(Math.min(left, 64 * 1024));
      if (!chunk) throw new Error('the archive ended in the middle of a file');
      left -= chunk.length;
      await each(chunk);
    }
    if (size % BLOCK && !(await this.read(BLOCK - (size % BLOCK)))) throw new Error('the archive ended in the middle of a file');
  }
}

function field(b: Buffer, start: number, len: number): string {
  const s = b.subarray(start, start + len);
  const end = s.indexOf(0);
  return s.subarray(0, end < 0 ? len : end).toString('utf8');
}

function number(b: Buffer, start: number, len: number): number {
  if (b[start]! & 0x80) return b.subarray(start + 1, start + len).reduce((n, byte) => n * 256 + byte, 0);
  const s = field(b, start, len).trim();
  return s ? parseInt(s, 8) : 0;
}

/** Values of a pax extended header ("len key=value\n" records). */
function pax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rec of data.toString('utf8').split('\n')) {
    const m = /^\d+ ([^=]+)=(.*)$/s.exec(rec);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * Extracts a tar stream into `root`, the first component of each name replaced by `top`
 * (entries outside the copied tree are refused). Resolves with how many entries were written.
 */
export async function unpack(source: AsyncIterable<Buffer>, root: string, top: string, warn: (msg: string) => void): Promise<number> {
  const blocks = new Blocks(source);
  const dirModes: [string, number][] = [];
  let longName: string | undefined;
  let longLink: string | undefined;
  let ext: Record<string, string> = {};
  let written = 0;
  for (;;) {
    const h = await blocks.read(BLOCK);
    if (!h || h.every((b) => b === 0)) break;
    const type = String.fromCharCode(h[156]!);
    const size = number(h, 124, 12);
    if (type === 'L' || type === 'K' || type === 'x' || type === 'g') {
      const parts: Buffer[] = [];
      await blocks.content(size, async (c) => void parts.push(Buffer.from(c)));
      const data = Buffer.concat(parts);
      if (type === 'L') longName = data.toString('utf8').replace(/\0+$/, '');
      else if (type === 'K') longLink = data.toString('utf8').replace(/\0+$/, '');
      else if (type === 'x') ext = pax(data);
      continue;
    }
    const prefix = field(h, 345, 155);
    const name = ext.path ?? longName ?? (prefix && field(h, 257, 6) === 'ustar' ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    const linkname = ext.linkpath ?? longLink ?? field(h, 157, 100);
    const entrySize = ext.size !== undefined ? Number(ext.size) : size;
    [longName, longLink, ext] = [undefined, undefined, {}];
    const target = placement(root, top, name);
    const body = type === '0' || type === '\0' || type === '7' ? entrySize : 0;
    if (typeof target !== 'string') {
      warn(`${name}: ${target.refused}`);
      await blocks.content(body, async () => undefined);
      continue;
    }
    await checkParents(root, target);
    if (type !== '5') await mkdir(dirname(target), { recursive: true });
    const mode = number(h, 100, 8) & 0o777;
    if (type === '5') {
      await mkdir(target, { recursive: true });
      dirModes.push([target, mode]);
    } else if (type === '2') {
      await replace(target);
      await symlink(linkname, target);
    } else if (body > 0 || type === '0' || type === '\0' || type === '7') {
      await replace(target);
      const fh = await open(target, 'wx', 0o600);
      try {
        await blocks.content(body, async (c) => void (await fh.write(c)));
      } finally {
        await fh.close();
      }
      await chmod(target, mode);
      const mtime = number(h, 136, 12);
      await utimes(target, mtime, mtime).catch(() => undefined);
    } else {
      warn(`${name}: ${type === '1' ? 'a hard link' : `an entry of type "${type}"`}: skipped`);
      continue;
    }
    written++;
  }
  for (const [dir, mode] of dirModes.reverse()) await chmod(dir, mode | 0o700).catch(() => undefined);
  return written;
}

/** Where an entry goes under `root`, its first component renamed `top`; or why it may not. */
export function placement(root: string, top: string, name: string): string | { refused: string } {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (name.startsWith('/')) return { refused: 'an absolute name: refused' };
  if (parts.length === 0) return { refused: 'an empty name: refused' };
  if (parts.includes('..')) return { refused: 'a name with "..": refused' };
  const target = resolve(root, top, ...parts.slice(1));
  const rel = relative(resolve(root), target);
  if (rel.startsWith('..') || rel.split(sep).includes('..')) return { refused: 'outside the destination: refused' };
  return target;
}

/** Refuses to write below a symlink inside the destination (an earlier entry may have made one). */
async function checkParents(root: string, target: string): Promise<void> {
  const rel = relative(resolve(root), target).split(sep).slice(0, -1);
  let p = resolve(root);
  for (const part of rel) {
    p = join(p, part);
    const st = await lstat(p).catch(() => undefined);
    if (st?.isSymbolicLink()) throw new Error(`${target}: would be written through the symlink ${p}: refused`);
  }
}

/** Removes a file or symlink in the way (never a directory with contents: that is an error). */
async function replace(target: string): Promise<void> {
  const st = await lstat(target).catch(() => undefined);
  if (st && !st.isDirectory()) await unlink(target);
}
