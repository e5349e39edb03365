import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { header, pack, placement, unpack, type TarEntry } from './tar.js';

let dir: string;
const warnings: string[] = [];
const warn = (m: string) => warnings.push(m);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-tar-'));
  warnings.length = 0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function bytes(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** A tar archive of hand-made entries (what a hostile instance could send). */
function archive(entries: (TarEntry & { data?: string })[]): Readable {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    parts.push(header({ ...e, size: data.length }));
    if (data.length) parts.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Readable.from([Buffer.concat(parts)]);
}

function tree(): string {
  const src = join(dir, 'src');
  const long = 'd'.repeat(120);
  mkdirSync(join(src, 'sub', long), { recursive: true });
  writeFileSync(join(src, 'index.html'), 'hello\n');
  writeFileSync(join(src, 'sub', 'bin'), Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256)));
  writeFileSync(join(src, 'sub', long, 'deep.txt'), 'deep\n');
  writeFileSync(join(src, 'empty'), '');
  symlinkSync('index.html', join(src, 'link'));
  return src;
}

describe('pack', () => {
  it('makes an archive GNU tar reads: renamed top entry, long names, a symlink, binary and empty files', async () => {
    const src = tree();
    const file = join(dir, 'out.tar');
    writeFileSync(file, await bytes(pack(src, 'site', warn)));
    const listing = execFileSync('tar', ['-tvf', file]).toString();
    expect(listing).toContain(`site/sub/${'d'.repeat(120)}/deep.txt`);
    expect(listing).toMatch(/site\/link -> index\.html/);
    mkdirSync(join(dir, 'x'));
    execFileSync('tar', ['-xf', file, '-C', join(dir, 'x')]);
    expect(readFileSync(join(dir, 'x', 'site', 'sub', 'bin'))).toEqual(readFileSync(join(src, 'sub', 'bin')));
    expect(readFileSync(join(dir, 'x', 'site', 'empty'), 'utf8')).toBe('');
  });
});

describe('unpack', () => {
  it('round-trips what pack makes, into a renamed top entry', async () => {
    const src = tree();
    mkdirSync(join(dir, 'dest'));
    const n = await unpack(pack(src, 'site', warn), join(dir, 'dest'), 'copy', warn);
    expect(n).toBe(8);
    expect(readFileSync(join(dir, 'dest', 'copy', 'sub', 'bin'))).toEqual(readFileSync(join(src, 'sub', 'bin')));
    expect(readFileSync(join(dir, 'dest', 'copy', 'sub', 'd'.repeat(120), 'deep.txt'), 'utf8')).toBe('deep\n');
    expect(readlinkSync(join(dir, 'dest', 'copy', 'link'))).toBe('index.html');
    expect(warnings).toEqual([]);
  });

  it('reads what GNU tar makes (ustar prefixes, pax or GNU long names)', async () => {
    tree();
    for (const format of ['gnu', 'pax']) {
      const out = join(dir, `out-${format}`);
      mkdirSync(out);
      const tarred = execFileSync('tar', [`--format=${format}`, '-cf', '-', '-C', dir, 'src']);
      await unpack(Readable.from([tarred]), out, 'src', warn);
      expect(readFileSync(join(out, 'src', 'sub', 'd'.repeat(120), 'deep.txt'), 'utf8')).toBe('deep\n');
    }
    const split = join(dir, 'u', 'a'.repeat(60), 'b'.repeat(60));
    mkdirSync(split, { recursive: true });
    writeFileSync(join(split, 'f.txt'), 'split\n');
    const tarred = execFileSync('tar', ['--format=ustar', '-cf', '-', '-C', dir, 'u']);
    await unpack(Readable.from([tarred]), dir, 'v', warn);
    expect(readFileSync(join(dir, 'v', 'a'.repeat(60), 'b'.repeat(60), 'f.txt'), 'utf8')).toBe('split\n');
  });

  it('refuses entries that would land outside the destination: "..", absolute names, writes through a symlink', async () => {
    const dest = join(dir, 'dest');
    mkdirSync(dest);
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    await unpack(archive([
      { name: 'top/../../escaped', type: 'file', mode: 0o644, size: 0, mtime: 0, data: 'x' },
      { name: '/etc/escaped', type: 'file', mode: 0o644, size: 0, mtime: 0, data: 'x' },
      { name: 'top/ok.txt', type: 'file', mode: 0o4755, size: 0, mtime: 0, data: 'fine' },
    ]), dest, 'top', warn);
    expect(existsSync(join(dir, 'escaped'))).toBe(false);
    expect(warnings.join('\n')).toMatch(/"\.\."[\s\S]*absolute/);
    expect(readFileSync(join(dest, 'top', 'ok.txt'), 'utf8')).toBe('fine');
    expect(lstatSync(join(dest, 'top', 'ok.txt')).mode & 0o7777).toBe(0o755); // no set-id bits
    await expect(unpack(archive([
      { name: 'top/', type: 'dir', mode: 0o755, size: 0, mtime: 0 },
      { name: 'top/link', type: 'symlink', mode: 0o777, size: 0, mtime: 0, linkname: outside },
      { name: 'top/link/planted', type: 'file', mode: 0o644, size: 0, mtime: 0, data: 'x' },
    ]), join(dir, 'dest'), 'top2', warn)).rejects.toThrow(/through the symlink/);
    expect(existsSync(join(outside, 'planted'))).toBe(false);
  });

  it('replaces a symlink in the way instead of writing through it', async () => {
    const dest = join(dir, 'dest');
    mkdirSync(dest);
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious');
    await unpack(archive([
      { name: 'f', type: 'symlink', mode: 0o777, size: 0, mtime: 0, linkname: victim },
      { name: 'f', type: 'file', mode: 0o644, size: 0, mtime: 0, data: 'new' },
    ]), dest, 'f', warn);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(readFileSync(join(dest, 'f'), 'utf8')).toBe('new');
  });
});

describe('placement', () => {
  it.each([
    ['site/a/b', '/d/copy/a/b'],
    ['./site/a', '/d/copy/a'],
    ['site', '/d/copy'],
    ['site/../x', { refused: 'a name with "..": refused' }],
    ['/abs', { refused: 'an absolute name: refused' }],
    ['', { refused: 'an empty name: refused' }],
  ])('%s → %j', (name, want) => {
    expect(placement('/d', 'copy', name)).toEqual(want);
  });
});
