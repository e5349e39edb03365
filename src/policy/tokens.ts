/**
 * Issuing and revoking tokens. The secret exists only in the response that creates it; the
 * store keeps its SHA-256 (the lookup key) and the token object (who, which roles, expiry).
 */
import type { Repository } from '../store/repository.js';
import type { TxnOp } from '../store/backend.js';
import { tokenKind } from '../model/kinds/index.js';
import type { Token, TokenSpec } from '../model/kinds/token.js';
import { hashToken } from './auth.js';
import { tokenKeys } from '../model/keyspace.js';
import { notFound } from '../model/errors.js';

export const TOKEN_PREFIX = 'stratus_';

/** The name of a node's credential token. */
export function nodeTokenName(node: string): string {
  return `node-${node}`.slice(0, 63).replace(/-+$/, '');
}
export const MIN_TOKEN_LENGTH = 16;

export interface IssuedToken {
  token: Token;
  /** The bearer secret. Shown once. */
  secret: string;
}

/** Creates the token object and its hash entries in one transaction. */
export async function issueToken(
  repo: Repository,
  input: { name?: string; spec: TokenSpec; secret?: string; actor?: string; labels?: Record<string, string> },
  extraOps: TxnOp[] = [],
): Promise<IssuedToken> {
  const secret = input.secret ?? TOKEN_PREFIX + repo.ids.secret(32);
  const name = input.name ?? `tok-${repo.ids.secret(6).toLowerCase().replace(/[^a-z0-9]/g, '0').slice(0, 8)}`;
  const hash = hashToken(secret);
  const ops: TxnOp[] = [
    { op: 'create', key: tokenKeys.byHash(hash), value: JSON.stringify({ token: name }) },
    { op: 'create', key: tokenKeys.byName(name), value: JSON.stringify({ hash }) },
    ...extraOps,
  ];
  const token = await repo.create<Token>(tokenKind, { metadata: { name, ...(input.labels ? { labels: input.labels } : {}) }, spec: input.spec }, { extraOps: ops, actor: input.actor });
  return { token, secret };
}

/** Deletes the token and its hash entries; its secret stops working at once. */
export async function revokeToken(repo: Repository, name: string, extraOps: TxnOp[] = []): Promise<Token> {
  const ref = await repo.records.json<{ hash: string }>(tokenKeys.byName(name));
  const token = await repo.find<Token>(tokenKind, name);
  if (!token) throw notFound('token', name);
  const ops: TxnOp[] = [...extraOps];
  if (ref) ops.push({ op: 'delete', key: tokenKeys.byName(name) }, { op: 'delete', key: tokenKeys.byHash(ref.hash) });
  return repo.delete<Token>(tokenKind, name, undefined, { expectRevision: token.metadata.revision, extraOps: ops });
}

/** Whether `secret` is a token the store knows (not revoked); says nothing of expiry or its user. */
export async function tokenExists(repo: Repository, secret: string): Promise<boolean> {
  return (await repo.records.get(tokenKeys.byHash(hashToken(secret)))) !== undefined;
}

/**
 * The key that signs the API's requests to node `node`'s agent (client/node-signing.ts): the
 * SHA-256 of the node's credential, which only the store and the agent know. Undefined when the
 * node has no credential.
 */
export async function nodeSigningKey(repo: Repository, node: string): Promise<string | undefined> {
  return (await repo.records.json<{ hash: string }>(tokenKeys.byName(nodeTokenName(node))))?.hash;
}
