/**
 * The agent's HTTP endpoint for logs, called only by the API server (which proxies
 * `stratus logs`): GET /v1/logs/:project/:name?uid=&follow=&tail=&stream=, signed with an HMAC
 * keyed by the SHA-256 of this node's credential (see client/node-signing.ts). Its WebSocket
 * upgrades (exec, port-forward) go to streams-server.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SIGNATURE_HEADER, verify } from '../../client/node-signing.js';
import { isRebootCapable, type Driver, type LogStream, type TaskHandle } from '../drivers/index.js';
import { StreamsServer, type RunningSource } from './streams-server.js';
import { serveMetrics, type MetricsEndpoint } from './metrics-endpoint.js';
import { serveVolumeOp } from './volumes-endpoint.js';
import { AGENT_VOLUME_OPS } from '../../client/volumes.js';
import type { NodeVolumes } from './volumes.js';

export interface LogSource extends RunningSource {
  /** The node's volumes: POST /v1/volumes/... (volumes-endpoint.ts) operates on them. */
  volumes?: NodeVolumes;
  /** The run to read for this instance, if this node has one. */
  find(project: string, name: string, uid: string | undefined): { driver: Driver; handle: TaskHandle } | undefined;
}

export class LogsServer {
  private server: Server | undefined;
  private readonly key: string;
  private readonly streams: StreamsServer;

  /** `metrics`: serve GET /metrics to its bearer token (--metrics-token-file); without it /metrics is 404. */
  constructor(token: string, private readonly source: LogSource, private readonly now: () => number, private readonly metrics?: MetricsEndpoint) {
    this.key = createHash('sha256').update(token, 'utf8').digest('hex');
    this.streams = new StreamsServer(this.key, source, now);
  }

  /** Listens; resolves with the URL other machines should use. */
  async listen(host: string, port: number, advertise?: string): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('upgrade', (req, socket, head) => this.streams.upgrade(req, socket, head));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    const addr = this.server.address() as AddressInfo;
    const shown = advertise ?? (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host);
    return `http://${shown.includes(':') ? `[${shown}]` : shown}:${addr.port}`;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.streams.close();
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /**
   * The project and name of a signed `METHOD /v1/<verb>/:project/:name` request; undefined once it
   * was refused (404, 401). A POST's signature is accepted once (a captured reboot cannot be replayed).
   */
  private target(req: IncomingMessage, res: ServerResponse, url: URL, verb: 'logs' | 'reboot', method: 'GET' | 'POST'): { project: string; name: string } | undefined {
    const m = new RegExp(`^\\/v1\\/${verb}\\/([^/]+)\\/([^/]+)$`).exec(url.pathname);
    if (req.method !== method || !m) return void fail(res, 404, 'no such route');
    try {
      if (method === 'POST') this.streams.checkSignature(req, method);
    } catch (e) {
      return void fail(res, 401, (e as Error).message);
    }
    const problem = method === 'GET' ? verify(this.key, method, req.url ?? '', req.headers[SIGNATURE_HEADER] as string | undefined, this.now()) : undefined;
    if (problem) return void fail(res, 401, problem);
    return { project: decodeURIComponent(m[1]!), name: decodeURIComponent(m[2]!) };
  }

  /** POST /v1/reboot/:project/:name?uid=: the running task's reset (RebootCapable: a VM's ACPI reset), signed like the logs. */
  private async reboot(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const target = this.target(req, res, url, 'reboot', 'POST');
    if (!target) return;
    const { project, name } = target;
    const run = this.source.running(project, name, url.searchParams.get('uid') ?? undefined);
    if (!run) return fail(res, 409, `instance ${project}/${name} is not running on this node`);
    if (!isRebootCapable(run.driver)) return fail(res, 400, `the ${run.driver.name} driver cannot reboot its instances`);
    try {
      await run.driver.reboot(run.handle);
    } catch (e) {
      return fail(res, 409, (e as Error).message);
    }
    res.writeHead(204).end();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    if (url.pathname === '/metrics' && this.metrics) return serveMetrics(req, res, this.metrics);
    if (url.pathname.startsWith(AGENT_VOLUME_OPS) && this.source.volumes) return serveVolumeOp(req, res, url, this.key, this.now(), this.source.volumes);
    if (/^\/v1\/reboot\//.test(url.pathname)) return this.reboot(req, res, url);
    const target = this.target(req, res, url, 'logs', 'GET');
    if (!target) return;
    const { project, name } = target;
    const found = this.source.find(project, name, url.searchParams.get('uid') ?? undefined);
    if (!found) return fail(res, 404, `no output of instance ${project}/${name} on this node`);
    const stream = url.searchParams.get('stream') as LogStream | null;
    const tail = url.searchParams.get('tail');
    const controller = new AbortController();
    res.on('close', () => controller.abort());
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' });
    try {
      for await (const line of found.driver.logs(found.handle, {
        follow: url.searchParams.get('follow') === 'true',
        ...(tail !== null ? { tail: Number(tail) } : {}),
        ...(stream ? { streams: [stream] } : {}),
        signal: controller.signal,
      })) {
        if (!res.write(`${line.line}\n`)) await new Promise((r) => res.once('drain', r));
      }
    } catch (e) {
      if (!controller.signal.aborted) res.write(`\n[stratus: log stream ended: ${(e as Error).message}]\n`);
    }
    res.end();
  }
}

function fail(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  const code = status === 401 ? 'STRATUS_ERR_UNAUTHENTICATED' : status === 409 ? 'STRATUS_ERR_NOT_RUNNING' : status === 400 ? 'STRATUS_ERR_BAD_REQUEST' : 'STRATUS_ERR_NOT_FOUND';
  res.end(JSON.stringify({ error: { code, status, message } }));
}
