/**
 * CLI contexts: which servers (one, or several sharing one store), which token, which default project. Saved by `stratus login`
 * in $STRATUS_CONFIG or ${XDG_CONFIG_HOME:-~/.config}/stratus/config.json (mode 0600).
 * Flags beat environment (STRATUS_SERVER, STRATUS_TOKEN, STRATUS_PROJECT) beat the context.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError } from './errors.js';
import { parseServers } from '../client/failover.js';

export interface Context {
  /**
   * The API server's URL, or several servers' (sharing one store: the client fails over between
   * them). One is saved as a string, as earlier versions wrote and read it.
   */
  server: string | string[];
  token: string;
  project?: string;
}

/** Where a command talks to, and as whom: the servers (at least one), the token, the project. */
export interface Target {
  servers: string[];
  token: string;
  project: string;
  contextName?: string;
}

export interface CliConfig {
  current?: string;
  contexts: Record<string, Context>;
}

export function configPath(): string {
  if (process.env.STRATUS_CONFIG) return process.env.STRATUS_CONFIG;
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'stratus', 'config.json');
}

export function loadConfig(path = configPath()): CliConfig {
  if (!existsSync(path)) return { contexts: {} };
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as CliConfig;
    return { current: parsed.current, contexts: parsed.contexts ?? {} };
  } catch (e) {
    throw new CliError(`cannot read ${path}: ${(e as Error).message}; fix or delete it, then log in again`);
  }
}

export function saveConfig(config: CliConfig, path = configPath()): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export interface TargetFlags {
  server?: string;
  token?: string;
  project?: string;
  context?: string;
}

/** Where commands talk to, and as whom. Throws a CliError saying how to log in when unknown. */
export function resolveTarget(flags: TargetFlags): Target {
  const config = loadConfig();
  const env = (k: string) => process.env[k] || undefined;
  const name = flags.context ?? env('STRATUS_CONTEXT') ?? config.current;
  if (flags.context && !config.contexts[flags.context]) throw new CliError(`no context "${flags.context}" (have: ${Object.keys(config.contexts).join(', ') || 'none'})`);
  const ctx = name ? config.contexts[name] : undefined;
  const server = flags.server ?? env('STRATUS_SERVER') ?? ctx?.server;
  const token = flags.token ?? env('STRATUS_TOKEN') ?? ctx?.token;
  if (!server || !token) {
    throw new CliError('not logged in: run `stratus login --server URL --token TOKEN` (or set STRATUS_SERVER and STRATUS_TOKEN)');
  }
  const project = flags.project ?? env('STRATUS_PROJECT') ?? ctx?.project ?? 'default';
  const from = flags.server ? '--server' : env('STRATUS_SERVER') ? 'STRATUS_SERVER' : `context "${name}"`;
  return { servers: serverList(server, from), token, project, contextName: name };
}

/**
 * A server list ("URL" or "URL1,URL2,..." from --server or STRATUS_SERVER, or a context's) as URLs
 * without trailing slashes; a CliError (usage, exit 2) naming the first bad one and where it came from.
 */
export function serverList(value: string | readonly string[], from = '--server'): string[] {
  try {
    return parseServers(value);
  } catch (e) {
    throw new CliError(`${from}: ${(e as Error).message}`, 2);
  }
}
