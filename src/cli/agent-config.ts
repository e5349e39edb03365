/**
 * What the agent flags (agent-options.ts) become: the options of an agent, checked, with the
 * networking and drivers they choose. Loaded only when `stratus agent` or `stratus server` runs.
 */
import { parseGpuFlag, defaultNodeName } from '../node/agent/fingerprint.js';
import type { EmbeddedAgentOptions } from '../server/embedded-agent.js';
import { parseCpu, parseMebibytes } from '../model/quantity.js';
import { labelKeyProblem, labelValueProblem } from '../model/labels.js';
import { parseDuration } from '../model/format.js';
import { CliError } from './errors.js';
import { NetworkSync } from '../node/agent/network.js';
import { isIP } from 'node:net';
import { normalize } from 'node:path';
import { DEFAULT_HOST_VIEW } from '../node/drivers/sandbox.js';
import { readMetricsToken } from '../node/agent/metrics-token.js';

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

function metricsToken(file: string): string {
  try {
    return readMetricsToken(file);
  } catch (e) {
    throw new CliError((e as Error).message, 2);
  }
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
    usageMs: /^0+(ms|s|m)?$/.test(String(o.usageInterval ?? '5s')) ? 0 : duration('--usage-interval', String(o.usageInterval ?? '5s')),
    ...(o.metricsTokenFile ? { metricsToken: metricsToken(o.metricsTokenFile as string) } : {}),
    backoff: { baseMs: duration('--restart-backoff', String(o.restartBackoff)), maxMs: 300_000, resetAfterMs: 600_000 },
    network: networkFrom(o),
    driverOptions: driverOptionsFrom(o),
  };
}

/** --allow-unisolated, --sandbox-paths, --container-userns and --vm-accel, as the drivers' options. */
function driverOptionsFrom(o: Record<string, unknown>): Record<string, Record<string, unknown>> {
  const hostView = String(o.sandboxPaths ?? DEFAULT_HOST_VIEW.join(',')).split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of hostView) {
    if (!p.startsWith('/') || normalize(p) !== p || p === '/') throw new CliError(`--sandbox-paths "${p}": use absolute, normalized directories other than /`, 2);
  }
  return {
    process: { allowUnisolated: o.allowUnisolated === true, hostView },
    container: { userns: o.containerUserns === 'off' ? 'off' : 'auto' },
    vm: { accel: o.vmAccel === 'kvm' || o.vmAccel === 'tcg' ? o.vmAccel : 'auto' },
  };
}

/** The node's networking from --network, --underlay-address and --netns-prefix. */
function networkFrom(o: Record<string, unknown>): NonNullable<EmbeddedAgentOptions['network']> {
  const underlay = o.underlayAddress as string | undefined;
  if (underlay !== undefined && isIP(underlay) !== 4) throw new CliError(`--underlay-address "${underlay}": use an IPv4 address of this machine`, 2);
  const netnsPrefix = String(o.netnsPrefix ?? 'stratus-');
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(netnsPrefix)) throw new CliError(`--netns-prefix "${netnsPrefix}": use lowercase letters, digits and "-", starting with a letter`, 2);
  const options = { mode: o.network === 'host' ? ('host' as const) : ('auto' as const), netnsPrefix, ...(underlay ? { underlayAddress: underlay } : {}) };
  return (ctx) => new NetworkSync(ctx, options);
}

