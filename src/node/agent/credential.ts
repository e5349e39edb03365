/**
 * The agent's credential: which node it is, the token that proves it and the control plane's
 * servers, kept in <data-dir>/credential.json (mode 0600). Made once by trading a join token.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join as joinPath } from 'node:path';
import { ApiClient } from '../../client/index.js';
import { parseServers, savedServers } from '../../client/failover.js';
import { joinNode, type JoinRequest } from '../../client/routes.js';

export interface Credential {
  /** The API server's URL, or several servers' (sharing one store); one is saved as a string, as earlier versions did. */
  server: string | readonly string[];
  node: string;
  token: string;
}

export function credentialPath(dataDir: string): string {
  return joinPath(dataDir, 'credential.json');
}

export function loadCredential(dataDir: string): Credential | undefined {
  try {
    return JSON.parse(readFileSync(credentialPath(dataDir), 'utf8')) as Credential;
  } catch {
    return undefined;
  }
}

/** The servers of a credential, checked (a saved one that is not a server URL throws, naming it). */
export function credentialServers(c: Credential): string[] {
  return parseServers(c.server);
}

export function saveCredential(dataDir: string, c: Credential): void {
  const path = credentialPath(dataDir);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify({ ...c, server: savedServers(credentialServers(c)) }, null, 2), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Trades a join token for a node credential (POST /v1/nodes/join, to the first of `server` that is reachable). */
export async function join(server: string | readonly string[], joinToken: string, req: JoinRequest): Promise<Credential> {
  const res = await joinNode(new ApiClient(parseServers(server), joinToken), req);
  if (!res.secret) throw new Error(`joining as node ${req.name}: the server answered without a credential`);
  return { server, node: req.name, token: res.secret };
}
