/**
 * GET /v1/backup: the whole store at one revision, in the backup format of store/backup.ts (JSON
 * lines: a header, one line per key, an end line with the key count and a SHA-256), streamed as
 * the store is read. Cluster admins only (`stratus admin backup`). Audited as `backup`: a taken
 * backup is recorded before its first byte (one that cannot be recorded is not taken), a refused
 * one after the answer.
 */
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server.js';
import { requestAudit } from '../request-audit.js';
import { backupOf } from '../../store/backup.js';
import { isoNow } from '../../model/runtime.js';

const DESCRIPTION = 'application/x-ndjson: a header line {format: "stratus-backup", formatVersion: 1, revision, backend, createdAt, serverVersion}, '
  + 'one line per key {key, value, createRevision, modRevision, version} (keys bound to a lease left out), and an end line '
  + '{end: true, keys, sha256} whose sha256 is that of every byte before it. A body without its end line was cut short. '
  + 'The x-stratus-revision header names the revision. Restore it with `stratus admin restore FILE --data-dir DIR`.';

export async function backupRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  // In this plugin only: reads are not audited elsewhere, refused backups are.
  app.addHook('onResponse', async (req, reply) => {
    if (req.audited || !req.principal || reply.statusCode < 400) return;
    req.audited = true;
    await deps.audit.record({ ...requestAudit(req, reply.statusCode), action: 'backup' })
      .catch((err: Error) => req.log.error({ err }, 'could not record a refused backup in the audit log'));
  });

  app.get('/v1/backup', {
    schema: {
      tags: ['Cluster'], summary: 'Back up the whole store at one revision (cluster admins)', description: DESCRIPTION,
      response: { 200: { description: 'The backup, streamed.', content: { 'application/x-ndjson': { schema: Type.String() } } } },
    },
    config: { permission: 'cluster-admin' },
  }, async (req, reply) => {
    req.target = { action: 'backup' };
    // The record first: a backup that cannot be audited is not taken.
    await deps.audit.record(requestAudit(req, 200));
    req.audited = true;
    const { header, chunks } = await backupOf(deps.repo.backend, { createdAt: isoNow(deps.clock), serverVersion: deps.version });
    return reply
      .header('content-type', 'application/x-ndjson')
      .header('cache-control', 'no-store')
      .header('content-disposition', `attachment; filename="stratus-backup-${header.revision}.ndjson"`)
      .header('x-stratus-revision', String(header.revision))
      .send(Readable.from(chunks, { objectMode: false }));
  });
}
