/**
 * Image archives across servers: each server keeps the archives uploaded to it in its own data
 * dir (store/blobs.ts), and a server asked for one it lacks fetches it from the other servers of
 * the store (runtime/servers.ts lists them), checks its SHA-256, and keeps a copy.
 *
 *   GET /peer/blobs/:digest   x-stratus-peer: mac(digest)   (servers only; no user token works)
 *
 * Peers prove themselves with a MAC under the shared secret key (policy/secret-box.ts `mac`):
 * servers of one cloud share that key file (checked at start), nobody else has it. What arrives
 * is stored under the digest it hashes to, so a peer cannot substitute content.
 */
import type { FastifyInstance } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { ApiDeps } from '../server.js';
import { StratusError } from '../../model/errors.js';
import { listServers } from '../../runtime/servers.js';

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const PEER_HEADER = 'x-stratus-peer';

export async function peerBlobRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  app.get('/peer/blobs/:digest', { schema: { hide: true }, config: { permission: 'public' } }, async (req, reply) => {
    const { digest } = req.params as { digest: string };
    const proof = String(req.headers[PEER_HEADER] ?? '');
    const expected = deps.secrets.box.mac(digest);
    if (!DIGEST.test(digest) || proof.length !== expected.length || !timingSafeEqual(Buffer.from(proof), Buffer.from(expected))) {
      throw new StratusError('STRATUS_ERR_FORBIDDEN', 'for the servers of this cloud only');
    }
    if (!(await deps.blobs.exists(digest))) throw new StratusError('STRATUS_ERR_NOT_FOUND', `no blob ${digest} on this server`);
    return reply.header('content-type', 'application/octet-stream').send(deps.blobs.open(digest));
  });
}

/**
 * Makes `digest` present in this server's blob store, fetching it from another server of the
 * store when missing here. Resolves true when present (here already, or fetched and verified).
 */
export async function ensureBlob(deps: ApiDeps, digest: string, maxBytes: number): Promise<boolean> {
  if (await deps.blobs.exists(digest)) return true;
  if (!DIGEST.test(digest)) return false;
  for (const peer of await listServers(deps.repo)) {
    let res: Response;
    try {
      res = await fetch(`${peer.url}/peer/blobs/${digest}`, { headers: { [PEER_HEADER]: deps.secrets.box.mac(digest) }, signal: AbortSignal.timeout(30_000) });
    } catch {
      continue; // that server is gone: the next
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => undefined);
      continue;
    }
    const got = await deps.blobs.put(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), maxBytes).catch(() => undefined);
    if (got?.digest === digest) return true;
    if (got) await deps.blobs.remove(got.digest); // not what was asked for: dropped
  }
  return false;
}
