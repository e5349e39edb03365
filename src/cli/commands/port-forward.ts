/**
 * `stratus port-forward INSTANCE|service/NAME [LOCAL:]REMOTE...`: listens on local ports and
 * forwards each connection through the API server to a port of the instance (WebSocket, one per
 * connection; the agent of its node connects to it). For a service, one ready replica is chosen
 * at the start (as kubectl does). Runs until interrupted.
 */
import type { Command } from 'commander';
import { createServer, type Server, type Socket } from 'node:net';
import { Cli } from '../context.js';
import { ApiError, CliError } from '../errors.js';
import { printLine } from '../output.js';
import { SERVICE_LABEL } from '../../model/kinds/service.js';
import { instanceKind, serviceKind } from '../../model/kinds/index.js';
import { openPortForward } from '../../client/routes.js';

export interface PortPair {
  local: number;
  remote: number;
}

/** "8080" (same local port), "9000:8080", ":8080" (any free local port). */
export function parsePortPair(spec: string): PortPair {
  const m = /^(?:(\d*):)?(\d+)$/.exec(spec);
  const remote = Number(m?.[2]);
  const local = m?.[1] === undefined ? remote : m[1] === '' ? 0 : Number(m[1]);
  if (!m || remote < 1 || remote > 65535 || local > 65535) throw new CliError(`${spec}: not a port pair: use REMOTE, LOCAL:REMOTE or :REMOTE (ports 1-65535)`, 2);
  return { local, remote };
}

export function registerPortForward(program: Command): void {
  program
    .command('port-forward <target> <ports...>')
    .description('Forward local ports to an instance or a ready replica of a service: stratus port-forward service/web 8080:80')
    .option('--address <ip>', 'local address to listen on', '127.0.0.1')
    .action(async (target: string, specs: string[], o: { address: string }, cmd: Command) => {
      const cli = Cli.of(cmd);
      const pairs = specs.map(parsePortPair);
      const instance = await resolveTarget(cli, target);
      const servers = await Promise.all(pairs.map((p) => listen(cli, instance, p, o.address)));
      await new Promise<void>((resolve) => {
        for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
      });
      for (const s of servers) s.close();
    });
}

/** The instance to forward to: the one named, or a ready replica of `service/NAME`. */
async function resolveTarget(cli: Cli, target: string): Promise<string> {
  const m = /^(service|services|svc|instance|instances|inst)\/(.+)$/.exec(target);
  const [kind, name] = m ? [m[1]!.startsWith('s') ? 'service' : 'instance', m[2]!] : ['instance', target];
  const instances = cli.resources(instanceKind);
  if (kind === 'instance') {
    const inst = await instances.get(name);
    if (inst.status?.phase !== 'Running') throw new CliError(`instance "${name}" is ${inst.status?.phase ?? 'Pending'}, not Running: nothing to forward to`);
    return name;
  }
  await cli.resources(serviceKind).get(name);
  const { items } = await instances.list({ selector: `${SERVICE_LABEL}=${name}` });
  const running = items.filter((i) => i.status?.phase === 'Running');
  const ready = running.find((i) => i.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  if (!ready) throw new CliError(`service "${name}" has no ready replica (${running.length} of ${items.length} running)`);
  return ready.metadata.name;
}

function listen(cli: Cli, instance: string, pair: PortPair, address: string): Promise<Server> {
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (conn) => void forward(cli, instance, pair.remote, conn));
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new CliError(`cannot listen on ${address}:${pair.local}: ${e.code === 'EADDRINUSE' ? 'the port is in use' : e.message}`)));
    server.listen(pair.local, address, () => {
      const { port } = server.address() as { port: number };
      printLine(`Forwarding from ${address.includes(':') ? `[${address}]` : address}:${port} -> ${pair.remote}`);
      resolve(server);
    });
  });
}

/** One local connection: its own stream to the instance's port. Errors are printed; the listener stays. */
async function forward(cli: Cli, instance: string, port: number, conn: Socket): Promise<void> {
  conn.on('error', () => conn.destroy());
  const { bridge } = await import('../../client/streams.js');
  try {
    const ws = await openPortForward(cli.client, cli.project, instance, port);
    ws.on('error', () => undefined);
    ws.once('close', (code: number, reason: Buffer) => {
      if (code >= 4000) process.stderr.write(`error: forwarding to ${instance}:${port}: ${reason.toString('utf8')}\n`);
    });
    const done = bridge(ws, conn);
    conn.resume();
    await done;
  } catch (e) {
    const why = e instanceof ApiError ? `${e.message} (${e.code})` : (e as Error).message;
    process.stderr.write(`error: forwarding a connection to ${instance}:${port}: ${why}\n`);
    conn.destroy();
  }
}
