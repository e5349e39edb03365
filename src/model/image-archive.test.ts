import { describe, it, expect } from 'vitest';
import { gzipSync } from 'node:zlib';
import { archiveProblem } from './image-archive.js';

/** A tar header block as POSIX tar writes it ("ustar" at offset 257). */
function tarHeader(magic = 'ustar\0'): Buffer {
  const block = Buffer.alloc(512);
  block.write('./', 0);
  block.write(magic, 257, 'latin1');
  return block;
}

describe('archiveProblem', () => {
  it('accepts tar archives (POSIX and GNU) and gzip-compressed ones', () => {
    expect(archiveProblem(tarHeader())).toBeUndefined();
    expect(archiveProblem(tarHeader('ustar  \0'))).toBeUndefined();
    expect(archiveProblem(gzipSync(tarHeader()))).toBeUndefined();
  });

  it('refuses anything else, saying what an image is', () => {
    expect(archiveProblem(Buffer.from('#!/bin/sh\necho not an image\n'))).toMatch(/^is not a tar archive \(nor a gzip-compressed one\): an image is a root filesystem/);
    expect(archiveProblem(Buffer.alloc(1024))).toMatch(/is not a tar archive/);
    expect(archiveProblem(Buffer.alloc(0))).toBe('is empty');
  });
});
