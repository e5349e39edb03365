/**
 * Live streams into instances, over WebSocket (protocol: client/streams.ts):
 *
 *   GET /v1/projects/:project/instances/:name/exec?command=…&command=…&stdin=&tty=&cols=&rows=&term=
 *   GET /v1/projects/:project/instances/:name/portforward?port=N
 *   GET /v1/projects/:project/instances/:name/console        a VM's serial console, raw bytes both ways
 *
 * Members (and admins) only: `update` on the instance, never viewers, never node credentials.
 * Before the upgrade the API server connects to the agent of the instance's node (signed, like
 * logs), so every refusal (no such instance, not running, agent unreachable, the agent's own) is
 * an HTTP error with its code; then it relays messages both ways, passing on from the client
 * only what the stream's protocol has. Each stream is audited when it starts: exec with its
 * command's argv (never its output), port-forward with the port, console as attached. Refused
 * ones are audited too.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import type WebSocket from 'ws';
import type { ApiDeps } from '../server.js';
import { DnsLabel, Strict } from '../../model/schema.js';
import { StratusError } from '../../model/errors.js';
import { instanceKind } from '../../model/kinds/index.js';
import { requestAudit } from '../request-audit.js';
import { agentError, agentOf } from '../agent-link.js';
import { Channel, EOF_MESSAGE, MAX_MESSAGE, keepAlive, openSocket, relay, toBuffer, type SocketOpenError } from '../../client/streams.js';

const Params = Type.Object({ project: DnsLabel(), name: DnsLabel() }, Strict);

const ExecQuery = Type.Object(
  {
    command: Type.Array(Type.String({ maxLength: 4096 }), { minItems: 1, maxItems: 256, description: 'The program and its arguments (argv), one parameter each, in order.' }),
    stdin: Type.Optional(Type.Boolean({ description: 'Pass stdin (channel 0) to the command. Default false: it reads /dev/null.' })),
    tty: Type.Optional(Type.Boolean({ description: 'Run the command on a terminal (stdout and stderr come merged on channel 1).' })),
    cols: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, description: 'Terminal width (tty). Default 80.' })),
    rows: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, description: 'Terminal height (tty). Default 24.' })),
    term: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._+-]{1,64}$', description: 'TERM for the command (tty). Default xterm.' })),
  },
  Strict,
);

const ForwardQuery = Type.Object(
  { port: Type.Integer({ minimum: 1, maximum: 65535, description: 'TCP port of the instance: on its own address, or (host networking) one it listens on.' }) },
  Strict,
);

/** Idle limit for an upgrade request that never became a WebSocket (the stream itself sets none). */
const UPGRADE_IDLE_MS = 60_000;

declare module 'fastify' {
  interface FastifyRequest {
    /** The agent's side of a stream, opened before the client's upgrade. */
    agentSocket?: WebSocket;
  }
}

export async function execRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  await app.register(websocket, { options: { maxPayload: MAX_MESSAGE, perMessageDeflate: false } });
  app.server.prependListener('upgrade', (_req, socket: Socket) => socket.setTimeout(UPGRADE_IDLE_MS, () => socket.destroy()));
  // Refused streams (answered before any upgrade) are audited like refused writes.
  app.addHook('onResponse', async (req, reply) => {
    if (req.audited) return;
    req.audited = true;
    await deps.audit.record({ ...requestAudit(req, reply.statusCode), action: actionOf(req) }).catch((err: unknown) => req.log.error({ err }, 'could not write the audit record'));
  });

  streamRoute(app, deps, {
    route: 'exec',
    summary: 'Run a command in an instance (WebSocket)',
    querystring: ExecQuery,
    what: 'no commands',
    toAgent: (q: Static<typeof ExecQuery>) => {
      const search = new URLSearchParams();
      for (const a of q.command) search.append('command', a);
      for (const k of ['stdin', 'tty', 'cols', 'rows', 'term'] as const) if (q[k] !== undefined) search.set(k, String(q[k]));
      return search;
    },
    audited: (q) => `${JSON.stringify(q.command)}${q.tty ? ' (tty)' : ''}`,
    allow: (data, isBinary) => {
      const channel = isBinary ? toBuffer(data)[0] : undefined;
      return channel === Channel.stdin || channel === Channel.resize || channel === Channel.stdinEnd;
    },
  });
  streamRoute(app, deps, {
    route: 'portforward',
    summary: 'Forward a TCP connection to a port of an instance (WebSocket)',
    querystring: ForwardQuery,
    what: 'no ports',
    toAgent: (q: Static<typeof ForwardQuery>) => new URLSearchParams({ port: String(q.port) }),
    audited: (q) => `port ${q.port}`,
    allow: rawBytes,
  });
  streamRoute(app, deps, {
    route: 'console',
    summary: 'Attach to the serial console of a VM (WebSocket; raw bytes both ways, as port-forward)',
    querystring: Type.Object({}, Strict),
    what: 'no console',
    toAgent: () => new URLSearchParams(),
    audited: () => 'serial console attached',
    allow: rawBytes,
  });
}

/** Port-forward and console: binary messages, and the text "eof". */
function rawBytes(data: WebSocket.RawData, isBinary: boolean): boolean {
  return isBinary || toBuffer(data).toString('utf8') === EOF_MESSAGE;
}

interface StreamRoute<Q extends TSchema> {
  route: StreamKind;
  summary: string;
  querystring: Q;
  /** For "has not run on any node yet: <what>". */
  what: string;
  /** The agent's query for this request (the instance's uid is added). */
  toAgent(q: Static<Q>): URLSearchParams;
  /** The audit record's message. */
  audited(q: Static<Q>): string;
  /** What the client may send on to the agent. */
  allow: Parameters<typeof relay>[2];
}

/**
 * GET /v1/projects/:project/instances/:name/<route>: the agent's side is opened before the
 * client's upgrade (so refusals are HTTP errors), then the two are relayed.
 */
function streamRoute<Q extends TSchema>(app: FastifyInstance, deps: ApiDeps, r: StreamRoute<Q>): void {
  app.route({
    method: 'GET',
    url: `/v1/projects/:project/instances/:name/${r.route}`,
    schema: { tags: ['Instance'], summary: r.summary, params: Params, querystring: r.querystring },
    config: { permission: { kind: instanceKind, verb: 'update' } },
    preHandler: async (req) => {
      req.agentSocket = await openAgent(deps, req, r.route, r.toAgent(req.query as Static<Q>), r.what);
    },
    handler: async () => needsUpgrade(),
    wsHandler: (client, req) => {
      void audit(deps, req, r.audited(req.query as Static<Q>));
      start(client, req.agentSocket!, r.allow);
    },
  });
}

type StreamKind = 'exec' | 'portforward' | 'console';

function actionOf(req: FastifyRequest): string {
  const path = req.url.split('?')[0]!;
  return path.endsWith('/portforward') ? 'port-forward' : path.endsWith('/console') ? 'console' : 'exec';
}

function needsUpgrade(): never {
  throw new StratusError('STRATUS_ERR_BAD_REQUEST', 'this route streams over a WebSocket: send a GET with "Connection: Upgrade" and "Upgrade: websocket" (stratus exec, cp, port-forward and console do)');
}

/** Refuses what the agent must not see, then connects to the agent of the instance's node. */
async function openAgent(deps: ApiDeps, req: FastifyRequest, route: StreamKind, search: URLSearchParams, what: string): Promise<WebSocket> {
  if (!req.ws) needsUpgrade();
  const principal = req.principal!;
  if (principal.node) throw new StratusError('STRATUS_ERR_FORBIDDEN', `${principal.id} may not ${actionOf(req)}: node credentials never do`);
  const { project, name } = req.params as { project: string; name: string };
  const agent = await agentOf(deps, project, name, what);
  search.set('uid', agent.inst.metadata.uid);
  const path = `/v1/${route}/${encodeURIComponent(project)}/${encodeURIComponent(name)}?${search}`;
  const controller = new AbortController();
  req.raw.once('close', () => controller.abort());
  try {
    const ws = await openSocket(agent.address + path, agent.sign('GET', path), controller.signal);
    // The client may be gone before its upgrade completes: then nobody relays, and the agent's side must end.
    req.raw.socket.once('close', () => {
      if (!STARTED.has(ws)) ws.terminate();
    });
    return ws;
  } catch (e) {
    const err = e as SocketOpenError;
    if (err.status !== undefined) throw agentError(agent.node, err.status, err.body ?? '');
    throw new StratusError('STRATUS_ERR_UNAVAILABLE', `cannot reach the agent of node "${agent.node}" at ${agent.address}: ${err.message}`);
  }
}

const STARTED = new WeakSet<WebSocket>();

function start(client: WebSocket, agent: WebSocket, allow: Parameters<typeof relay>[2]): void {
  STARTED.add(agent);
  keepAlive(client);
  relay(client, agent, allow);
  if (agent.readyState !== agent.OPEN) client.close(1011, 'the agent closed the stream');
}

async function audit(deps: ApiDeps, req: FastifyRequest, message: string): Promise<void> {
  req.audited = true;
  await deps.audit.record({ ...requestAudit(req, 101), action: actionOf(req), message: message.slice(0, 512) }).catch((err: unknown) => req.log.error({ err }, 'could not write the audit record'));
}
