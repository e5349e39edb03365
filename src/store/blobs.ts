/**
 * Content-addressed files (image archives): written once under their SHA-256, read by digest.
 * Writes go to a temporary file and are renamed into place, so readers never see half a blob.
 * With several servers, point them all at one shared directory. The directory is 0700 and the
 * blobs 0600 (`secure()` corrects what an older version left readable).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readdirSync, type ReadStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { privateDir, privateFile } from './private.js';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';

export class BlobTooLarge extends Error {}

export class BlobStore {
  constructor(readonly dir: string) {}

  /** Creates the directory if missing and makes it and every blob in it private. */
  secure(): void {
    privateDir(this.dir);
    privateDir(join(this.dir, 'tmp'));
    for (const name of readdirSync(this.dir)) if (name !== 'tmp') privateFile(join(this.dir, name));
  }

  /** Stores `body` (at most `maxBytes`); resolves with its digest ("sha256:<hex>") and size. */
  async put(body: Readable, maxBytes: number): Promise<{ digest: string; size: number }> {
    await mkdir(join(this.dir, 'tmp'), { recursive: true, mode: 0o700 });
    const tmp = join(this.dir, 'tmp', `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > maxBytes) return done(new BlobTooLarge(`the upload is larger than ${maxBytes} bytes`));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, meter, createWriteStream(tmp, { mode: 0o600 }));
      const digest = `sha256:${hash.digest('hex')}`;
      await rename(tmp, this.path(digest));
      return { digest, size };
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  path(digest: string): string {
    return join(this.dir, digest.replace(':', '-'));
  }

  async exists(digest: string): Promise<boolean> {
    return (await stat(this.path(digest)).catch(() => undefined)) !== undefined;
  }

  open(digest: string): ReadStream {
    return createReadStream(this.path(digest));
  }

  async remove(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
  }
}
