/**
 * Image content.
 *   PUT /v1/projects/:project/images/:name/content   streamed; a rootfs image takes a tar archive
 *                                                    (gzip ok), a disk image qcow2 or raw
 *                                                    (model/disk-image.ts: no backing file)
 *   GET /v1/projects/:project/images/:name/content   the content; agents fetch it before first use
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Readable } from 'node:stream';
import type { ApiDeps } from '../server.js';
import { DnsLabel, Strict } from '../../model/schema.js';
import { StratusError } from '../../model/errors.js';
import { imageKind } from '../../model/kinds/index.js';
import { imageType, type Image } from '../../model/kinds/image.js';
import { isoNow } from '../../model/runtime.js';
import { BlobTooLarge } from '../../store/blobs.js';
import { viewOf } from '../../policy/auth.js';
import { pipeline, Transform } from 'node:stream';
import { archiveProblem, ARCHIVE_HEAD_BYTES } from '../../model/image-archive.js';
import { diskImageOf, diskStatus, rawLengthProblem, DISK_HEAD_BYTES, type DiskHead } from '../../model/disk-image.js';
import { ensureBlob } from './peer-blobs.js';

export const MAX_IMAGE_BYTES = 8 * 1024 * 1024 * 1024;
const ARCHIVE_TYPES = ['application/x-tar', 'application/gzip', 'application/x-gzip', 'application/octet-stream'];

export async function imageRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  // In this plugin only: archives arrive as raw streams, never buffered.
  app.addContentTypeParser(ARCHIVE_TYPES, (_req, payload, done) => done(null, payload));
  const params = Type.Object({ project: DnsLabel(), name: DnsLabel() }, Strict);
  const tags = ['Image'];

  app.put('/v1/projects/:project/images/:name/content', {
    schema: { tags, summary: 'Upload the content of an image: a tar archive of its root filesystem (type rootfs), or a qcow2 or raw disk without a backing file (type disk)', params },
    config: { permission: { kind: imageKind, verb: 'update' } },
  }, async (req, reply) => {
    const { project, name } = req.params as { project: string; name: string };
    req.target = { kind: 'image', project, name, action: 'upload' };
    const prev = await deps.repo.get<Image>(imageKind, name, project);
    if (!req.body || typeof (req.body as Readable).pipe !== 'function') {
      throw new StratusError('STRATUS_ERR_UNSUPPORTED_MEDIA_TYPE', `send the archive as one of ${ARCHIVE_TYPES.join(', ')}`);
    }
    const check = imageType(prev) === 'disk' ? diskCheck(name) : rootfsCheck();
    let blob: { digest: string; size: number };
    try {
      // pipeline, not pipe: an upload that breaks off fails the check stream too.
      blob = await deps.blobs.put(pipeline(req.body as Readable, check.stream, () => undefined), MAX_IMAGE_BYTES);
    } catch (e) {
      // The rest of the upload is not read: the connection cannot carry another request.
      if (!(req.body as Readable).readableEnded) void reply.header('connection', 'close');
      if (e instanceof BlobTooLarge) throw new StratusError('STRATUS_ERR_PAYLOAD_TOO_LARGE', e.message);
      throw e;
    }
    const disk = check.disk && diskStatus(check.disk, blob.size);
    const updated = await deps.repo.update<Image>(imageKind, name, project, (cur) => ({
      ...cur,
      status: { phase: 'Ready', digest: blob.digest, size: blob.size, uploadedAt: isoNow(deps.clock), ...disk },
    }));
    const old = prev.status?.digest;
    if (old && old !== blob.digest && !(await digestInUse(deps, old))) await deps.blobs.remove(old);
    return updated;
  });

  app.get('/v1/projects/:project/images/:name/content', {
    schema: { tags, summary: 'Download the content of an image', params },
    config: { permission: { kind: imageKind, verb: 'get' } },
  }, async (req, reply) => {
    const { project, name } = req.params as { project: string; name: string };
    const image = await deps.repo.get<Image>(imageKind, name, project);
    if (!viewOf(req.principal!, imageKind, image, deps.nodeScope)) {
      throw new StratusError('STRATUS_ERR_FORBIDDEN', `${req.principal!.id} may not read image "${name}" of project "${project}"`);
    }
    const digest = image.status?.digest;
    // uploaded through another server of the store: fetched from it (peer-blobs.ts)
    if (!digest || !(await ensureBlob(deps, digest, MAX_IMAGE_BYTES))) {
      throw new StratusError('STRATUS_ERR_NOT_FOUND', `image "${name}" in project "${project}" has no content yet; upload it with \`stratus image import ${name} PATH\``);
    }
    const type = imageType(image) === 'disk' ? 'application/octet-stream' : 'application/x-tar';
    return reply.header('content-type', type).header('x-stratus-digest', digest).send(deps.blobs.open(digest));
  });
}

/**
 * Passes an upload through once its first `headBytes` (or all of it, if shorter) pass `head`, and
 * its length passes `end`; fails the upload (and so the stored blob) with their problem otherwise.
 */
function contentCheck(headBytes: number, head: (bytes: Buffer) => string | undefined, end: (length: number) => string | undefined = () => undefined): Transform {
  let first = Buffer.alloc(0);
  let checked = false;
  let length = 0;
  const refuse = (problem: string | undefined) => (problem ? new StratusError('STRATUS_ERR_VALIDATION', `the upload ${problem}`, { path: 'content' }) : undefined);
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      length += chunk.length;
      if (checked) return done(null, chunk);
      first = Buffer.concat([first, chunk]);
      if (first.length < headBytes) return done();
      checked = true;
      done(refuse(head(first)), first);
    },
    flush(done) {
      const e = checked ? undefined : refuse(head(first));
      if (e) return done(e);
      done(refuse(end(length)), checked ? undefined : first);
    },
  });
}

/** A root filesystem: a tar archive (gzip ok); a disk image sent here is told to use --type disk. */
function rootfsCheck(): { stream: Transform; disk?: undefined } {
  return {
    stream: contentCheck(ARCHIVE_HEAD_BYTES, (head) => {
      const problem = archiveProblem(head);
      const disk = problem ? diskImageOf(head) : undefined;
      if (disk && 'format' in disk && disk.format === 'qcow2') return `${problem}; it is a qcow2 disk image: import it into a disk image (stratus image import NAME PATH --type disk)`;
      return problem;
    }),
  };
}

/** A disk: qcow2 without a backing file, or raw of whole sectors; `disk` is what its head said, once read. */
function diskCheck(name: string): { stream: Transform; disk?: Exclude<DiskHead, { problem: string }> } {
  const out: { stream?: Transform; disk?: Exclude<DiskHead, { problem: string }> } = {};
  out.stream = contentCheck(DISK_HEAD_BYTES, (head) => {
    const found = diskImageOf(head);
    if ('problem' in found) return `${found.problem} (image "${name}" is a disk image, spec.type: disk)`;
    out.disk = found;
    return undefined;
  }, (length) => (out.disk?.format === 'raw' ? rawLengthProblem(length) : undefined));
  return out as { stream: Transform; disk?: Exclude<DiskHead, { problem: string }> };
}

async function digestInUse(deps: ApiDeps, digest: string): Promise<boolean> {
  const { items } = await deps.repo.list<Image>(imageKind, { filter: (o) => (o as Image).status?.digest === digest });
  return items.length > 0;
}
