/**
 * The agent's volume operations, called only by the API server (api/routes/volumes.ts) on the
 * agent's listener, signed like the logs (client/node-signing.ts, method and path with query):
 *
 *   POST /v1/volumes/snapshot?project=&volume=&snapshot=              → {bytes}
 *   POST /v1/volumes/restore?project=&volume=&snapshot=&size=&type=   → {}
 *   POST /v1/volumes/clone?project=&volume=&to=&uid=&size=&type=[&snapshot=] → {}
 *   POST /v1/volumes/resize?project=&volume=&size=&type=              → {online}
 *   POST /v1/volumes/remove?project=&volume=                          → {}
 *   POST /v1/volumes/remove-snapshot?project=&snapshot=               → {}
 *
 * Answers 409 STRATUS_ERR_VOLUME_IN_USE when an instance uses the volume, 404 when this node has
 * no data for it, 400 for a malformed request. Names must be DNS labels (they become file names).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SIGNATURE_HEADER, verify } from '../../client/node-signing.js';
import { VolumeBusyError, VolumeMissingError, type NodeVolumes, type VolumeType } from './volumes.js';
import { AGENT_VOLUME_OPS } from '../../client/volumes.js';

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

class BadRequest extends Error {}

/** Serves one volume operation (see the file comment). */
export async function serveVolumeOp(req: IncomingMessage, res: ServerResponse, url: URL, key: string, now: number, volumes: NodeVolumes): Promise<void> {
  const problem = verify(key, 'POST', req.url ?? '', req.headers[SIGNATURE_HEADER] as string | undefined, now);
  if (req.method !== 'POST') return answer(res, 404, { error: { code: 'STRATUS_ERR_NOT_FOUND', status: 404, message: 'no such route' } });
  if (problem) return answer(res, 401, { error: { code: 'STRATUS_ERR_UNAUTHENTICATED', status: 401, message: problem } });
  try {
    answer(res, 200, await run(url.pathname.slice(AGENT_VOLUME_OPS.length), url.searchParams, volumes));
  } catch (e) {
    const [status, code] = e instanceof VolumeBusyError ? [409, 'STRATUS_ERR_VOLUME_IN_USE'] : e instanceof VolumeMissingError ? [404, 'STRATUS_ERR_NOT_FOUND'] : e instanceof BadRequest ? [400, 'STRATUS_ERR_BAD_REQUEST'] : [500, 'STRATUS_ERR_INTERNAL'];
    answer(res, status, { error: { code, status, message: (e as Error).message } });
  }
}

async function run(op: string, q: URLSearchParams, v: NodeVolumes): Promise<object> {
  const name = (k: string) => {
    const s = q.get(k) ?? '';
    if (!LABEL.test(s)) throw new BadRequest(`${k}: ${JSON.stringify(s)} is not a DNS label`);
    return s;
  };
  const size = () => {
    const n = Number(q.get('size'));
    if (!Number.isInteger(n) || n <= 0) throw new BadRequest(`size: ${JSON.stringify(q.get('size'))} is not a positive number of MiB`);
    return n;
  };
  const type = (): VolumeType => {
    const t = q.get('type');
    if (t !== 'filesystem' && t !== 'block') throw new BadRequest(`type: ${JSON.stringify(t)} is not filesystem or block`);
    return t;
  };
  const uid = () => {
    const s = q.get('uid') ?? '';
    if (!/^[A-Za-z0-9-]{1,64}$/.test(s)) throw new BadRequest(`uid: ${JSON.stringify(s)} is not an object uid`);
    return s;
  };
  const p = name('project');
  switch (op) {
    case 'snapshot': return v.snapshot(p, name('volume'), name('snapshot'));
    case 'restore': return v.restore(p, name('volume'), name('snapshot'), size(), type()).then(() => ({}));
    case 'clone': return v.clone(p, name('volume'), name('to'), size(), type(), uid(), q.has('snapshot') ? name('snapshot') : undefined).then(() => ({}));
    case 'resize': return v.resize(p, name('volume'), size(), type());
    case 'remove': return v.remove(p, name('volume')).then(() => ({}));
    case 'remove-snapshot': return v.removeSnapshot(p, name('snapshot')).then(() => ({}));
    default: throw new VolumeMissingError(`no volume operation "${op}"`);
  }
}

function answer(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
