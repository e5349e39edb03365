/**
 * Image content.
 *   PUT /v1/projects/:project/images/:name/content   a tar archive (application/x-tar, gzip ok), streamed
 *   GET /v1/projects/:project/images/:name/content   the archive; agents fetch it before first use
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Readable } from 'node:stream';
import type { ApiDeps } from '../server.js';
import { DnsLabel, Strict } from '../../model/schema.js';
import { StratusError } from '../../model/errors.js';
import { imageKind } from '../../model/kinds/index.js';
import type { Image } from '../../model/kinds/image.js';
import { isoNow } from '../../model/runtime.js';
import { BlobTooLarge } from '../../store/blobs.js';
import { viewOf } from '../../policy/auth.js';
import { pipeline, Transform } from 'node:stream';
import { archiveProblem, ARCHIVE_HEAD_BYTES } from '../../model/image-archive.js';
import { ensureBlob } from './peer-blobs.js';

export const MAX_IMAGE_BYTES = 8 * 1024 * 1024 * 1024;
const ARCHIVE_TYPES = ['application/x-tar', 'application/gzip', 'application/x-gzip', 'application/octet-stream'];

export async function imageRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  // In this plugin only: archives arrive as raw streams, never buffered.
  app.addContentTypeParser(ARCHIVE_TYPES, (_req, payload, done) => done(null, payload));
  const params = Type.Object({ project: DnsLabel(), name: DnsLabel() }, Strict);
  const tags = ['Image'];

  app.put('/v1/projects/:project/images/:name/content', {
    schema: { tags, summary: 'Upload the content of an image (a tar archive of its root filesystem)', params },
    config: { permission: { kind: imageKind, verb: 'update' } },
  }, async (req) => {
    const { project, name } = req.params as { project: string; name: string };
    req.target = { kind: 'image', project, name, action: 'upload' };
    const prev = await deps.repo.get<Image>(imageKind, name, project);
    if (!req.body || typeof (req.body as Readable).pipe !== 'function') {
      throw new StratusError('STRATUS_ERR_UNSUPPORTED_MEDIA_TYPE', `send the archive as one of ${ARCHIVE_TYPES.join(', ')}`);
    }
    let blob: { digest: string; size: number };
    try {
      // pipeline, not pipe: an upload that breaks off fails the check stream too.
      blob = await deps.blobs.put(pipeline(req.body as Readable, archiveCheck(), () => undefined), MAX_IMAGE_BYTES);
    } catch (e) {
      if (e instanceof BlobTooLarge) throw new StratusError('STRATUS_ERR_PAYLOAD_TOO_LARGE', e.message);
      throw e;
    }
    const updated = await deps.repo.update<Image>(imageKind, name, project, (cur) => ({
      ...cur,
      status: { phase: 'Ready', digest: blob.digest, size: blob.size, uploadedAt: isoNow(deps.clock) },
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
    return reply.header('content-type', 'application/x-tar').header('x-stratus-digest', digest).send(deps.blobs.open(digest));
  });
}

/** Passes an upload through once its first block says it is a tar (or gzip) archive; fails the upload otherwise. */
function archiveCheck(): Transform {
  let head = Buffer.alloc(0);
  let checked = false;
  const check = (): Error | undefined => {
    checked = true;
    const problem = archiveProblem(head);
    return problem ? new StratusError('STRATUS_ERR_VALIDATION', `the upload ${problem}`) : undefined;
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (checked) return done(null, chunk);
      head = Buffer.concat([head, chunk]);
      if (head.length < ARCHIVE_HEAD_BYTES) return done();
      done(check(), head);
    },
    flush(done) {
      if (checked) return done();
      const e = check();
      done(e, e ? undefined : head);
    },
  });
}

async function digestInUse(deps: ApiDeps, digest: string): Promise<boolean> {
  const { items } = await deps.repo.list<Image>(imageKind, { filter: (o) => (o as Image).status?.digest === digest });
  return items.length > 0;
}
