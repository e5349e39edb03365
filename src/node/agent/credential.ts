/**
 * The agent's credential: which node it is and the token that proves it, kept in
 * <data-dir>/credential.json (mode 0600). Made once by trading a join token.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join as joinPath } from 'node:path';
import { ApiClient } from '../../client/index.js';
import { joinNode, type JoinRequest } from '../../client/routes.js';

export interface Credential {
  server: string;
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

export function saveCredential(dataDir: string, c: Credential): void {
  const path = credentialPath(dataDir);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(c, null, 2), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Trades a join token for a node credential (POST /v1/nodes/join). */
export async function join(server: string, joinToken: string, req: JoinRequest): Promise<Credential> {
  const res = await joinNode(new ApiClient(server, joinToken), req);
  if (!res.secret) throw new Error(`joining as node ${req.name}: the server answered without a credential`);
  return { server, node: req.name, token: res.secret };
}
