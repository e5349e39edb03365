/** Flags shared by `stratus agent` and the embedded agent of `stratus server`. */
import { Option, type Command } from 'commander';
import { parseGpuFlag, defaultNodeName } from '../agent/fingerprint.js';
import type { EmbeddedAgentOptions } from '../server/embedded-agent.js';
import { parseCpu, parseMebibytes } from '../model/quantity.js';
import { labelKeyProblem, labelValueProblem } from '../model/labels.js';
import { parseDuration } from '../model/format.js';
import { CliError } from './errors.js';
import { AgentNetworking } from '../agent/network.js';
import { isIP } from 'node:net';
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { normalize } from 'node:path';
import { DEFAULT_HOST_VIEW } from '../drivers/sandbox.js';

export function addAgentOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--node-name <name>', 'node name (default: the hostname)').env('STRATUS_NODE_NAME'))
    .addOption(new Option('--labels <k=v,...>', 'node labels, e.g. disk=ssd,rack=r1'))
    .addOption(new Option('--zone <zone>', 'failure domain of this machine'))
    .addOption(new Option('--pool <pool>', 'node pool'))
    .addOption(new Option('--gpus <MODEL:COUNT,...>', 'declare GPUs instead of asking nvidia-smi, e.g. V100M32:2'))
    .addOption(new Option('--capacity <cpu=..,memory=..,disk=..>', 'declare capacity instead of detecting it, e.g. cpu=4,memory=8Gi'))
    .addOption(new Option('--reserve <cpu=..,memory=..>', 'keep back for the system, e.g. cpu=500m,memory=1Gi'))
    .addOption(new Option('--drivers <names>', 'drivers to enable (default: all that work here), e.g. process,container'))
    .addOption(new Option('--agent-listen <host:port>', 'where the agent serves logs to the API server (default for stratus agent: the source address of the route to the server, port 0 (any); for the server\'s own agent: 127.0.0.1:0)').default('127.0.0.1:0'))
    .addOption(new Option('--advertise-address <addr>', 'address the API server uses to reach this agent (default: the --agent-listen host, or the source address of the route to the server when that is 0.0.0.0)'))
    .addOption(new Option('--heartbeat <duration>', 'how often the agent reports').default('2s'))
    .addOption(new Option('--restart-backoff <duration>', 'first delay before restarting a failed instance (doubles each time, up to 5m)').default('1s'))
    .addOption(new Option('--network <mode>', 'instance networking: auto (a namespace per instance on per-project networks, where root and the kernel allow it; else host) or host').choices(['auto', 'host']).env('STRATUS_NETWORK').default('auto'))
    .addOption(new Option('--underlay-address <ip>', 'this machine\'s address for VXLAN between nodes (default: the source address of the route to the server)'))
    .addOption(new Option('--netns-prefix <prefix>', 'prefix of instance network namespaces; give each agent sharing /run/netns its own').default('stratus-'))
    .addOption(new Option('--allow-unisolated', 'run process instances that ask for isolation: none (as root, seeing the whole node) in projects a cluster admin allowed; off by default'))
    .addOption(new Option('--sandbox-paths <dirs>', 'host directories sandboxed processes see read-only').default(DEFAULT_HOST_VIEW.join(',')))
    .addOption(new Option('--container-userns <mode>', 'containers in user namespaces: auto (where the kernel allows) or off').choices(['auto', 'off']).default('auto'));
}

function pairs(flag: string, text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (text ?? '').split(',').filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) throw new CliError(`${flag} "${part}": use key=value`, 2);
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

function duration(flag: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) throw new CliError(`${flag} "${text}": not a duration (e.g. 500ms, 2s, 1m)`, 2);
  return ms;
}

function resources(flag: string, text: string | undefined): { cpu?: number; memory?: number; disk?: number } {
  const out: { cpu?: number; memory?: number; disk?: number } = {};
  for (const [k, v] of Object.entries(pairs(flag, text))) {
    try {
      if (k === 'cpu') out.cpu = parseCpu(v);
      else if (k === 'memory' || k === 'disk') out[k] = parseMebibytes(v);
      else throw new Error(`unknown key "${k}" (use cpu, memory, disk)`);
    } catch (e) {
      throw new CliError(`${flag} ${k}=${v}: ${(e as Error).message}`, 2);
    }
  }
  return out;
}

export function agentOptionsFrom(o: Record<string, unknown>): EmbeddedAgentOptions {
  const labels = pairs('--labels', o.labels as string | undefined);
  for (const [k, v] of Object.entries(labels)) {
    const p = labelKeyProblem(k) ?? labelValueProblem(v);
    if (p) throw new CliError(`--labels: ${p}`, 2);
  }
  let gpus;
  try {
    gpus = o.gpus ? parseGpuFlag(o.gpus as string) : undefined;
  } catch (e) {
    throw new CliError((e as Error).message, 2);
  }
  const [host, port] = String(o.agentListen).split(/:(?=\d+$)/);
  if (!host || port === undefined || !/^\d+$/.test(port)) throw new CliError(`--agent-listen "${String(o.agentListen)}": use HOST:PORT`, 2);
  return {
    name: (o.nodeName as string | undefined) ?? defaultNodeName(),
    labels,
    ...(o.zone ? { zone: o.zone as string } : {}),
    ...(o.pool ? { pool: o.pool as string } : {}),
    ...(gpus ? { gpus } : {}),
    capacity: resources('--capacity', o.capacity as string | undefined),
    reserved: resources('--reserve', o.reserve as string | undefined),
    ...(o.drivers ? { drivers: (o.drivers as string).split(',').map((d) => d.trim()).filter(Boolean) } : {}),
    listen: { host, port: Number(port), ...(o.advertiseAddress ? { advertise: o.advertiseAddress as string } : {}) },
    heartbeatMs: duration('--heartbeat', String(o.heartbeat)),
    backoff: { baseMs: duration('--restart-backoff', String(o.restartBackoff)), maxMs: 300_000, resetAfterMs: 600_000 },
    network: networkFrom(o),
    driverOptions: driverOptionsFrom(o),
  };
}

/** --allow-unisolated, --sandbox-paths and --container-userns, as the drivers' options. */
function driverOptionsFrom(o: Record<string, unknown>): Record<string, Record<string, unknown>> {
  const hostView = String(o.sandboxPaths ?? DEFAULT_HOST_VIEW.join(',')).split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of hostView) {
    if (!p.startsWith('/') || normalize(p) !== p || p === '/') throw new CliError(`--sandbox-paths "${p}": use absolute, normalized directories other than /`, 2);
  }
  return {
    process: { allowUnisolated: o.allowUnisolated === true, hostView },
    container: { userns: o.containerUserns === 'off' ? 'off' : 'auto' },
  };
}

/** The node's networking from --network, --underlay-address and --netns-prefix. */
function networkFrom(o: Record<string, unknown>): NonNullable<EmbeddedAgentOptions['network']> {
  const underlay = o.underlayAddress as string | undefined;
  if (underlay !== undefined && isIP(underlay) !== 4) throw new CliError(`--underlay-address "${underlay}": use an IPv4 address of this machine`, 2);
  const netnsPrefix = String(o.netnsPrefix ?? 'stratus-');
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(netnsPrefix)) throw new CliError(`--netns-prefix "${netnsPrefix}": use lowercase letters, digits and "-", starting with a letter`, 2);
  const options = { mode: o.network === 'host' ? ('host' as const) : ('auto' as const), netnsPrefix, ...(underlay ? { underlayAddress: underlay } : {}) };
  return (ctx) => new AgentNetworking(ctx, options);
}

/**
 * Where a machine's own agent (`stratus agent`) serves logs: the API server proxies `stratus logs`
 * to it, so it must be an address the server reaches. Unless --agent-listen was given, it listens
 * on the source address of the route to the server (what --underlay-address defaults to), any
 * port; listening on 0.0.0.0 it advertises that address rather than 127.0.0.1. An explicit
 * --advertise-address always wins.
 */
export async function reachableListen(listen: EmbeddedAgentOptions['listen'], server: string, listenGiven: boolean): Promise<EmbeddedAgentOptions['listen']> {
  const l = listen ?? { host: '127.0.0.1', port: 0 };
  if (l.advertise || (listenGiven && l.host !== '0.0.0.0' && l.host !== '::')) return l;
  const source = await routeSource(server);
  if (!source) return l;
  return listenGiven ? { ...l, advertise: source } : { host: source, port: l.port };
}

/** The source address this machine uses to reach `url`'s host (no packet is sent), if any. */
export async function routeSource(url: string): Promise<string | undefined> {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
  const target = isIP(host) ? host : await lookup(host).then((r) => r.address, () => undefined);
  if (!target) return undefined;
  const sock = createSocket(isIP(target) === 6 ? 'udp6' : 'udp4');
  try {
    // A UDP connect only picks the route and the source address.
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.connect(9, target, () => resolve());
    });
    return sock.address().address;
  } catch {
    return undefined;
  } finally {
    sock.close();
  }
}
