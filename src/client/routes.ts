/**
 * The API's routes that are not a kind's generic ones, as typed functions of an ApiClient:
 * identity and tokens, members, node registration, logs, image content, secrets, exec and
 * port-forward streams, audit, stack plan and apply. Their shapes are those of src/api/routes/*.ts.
 */
import type { Readable } from 'node:stream';
import type WebSocket from 'ws';
import type { StoredObject } from '../model/kind.js';
import type { Node } from '../model/kinds/node.js';
import type { Image } from '../model/kinds/image.js';
import type { Token, TokenSpec } from '../model/kinds/token.js';
import type { StackApplyResult, StackPlanJson, StackRequest } from '../model/stack/plan.js';
import type { ApiClient } from './index.js';
import type { AuditEntry } from '../model/audit.js';
import type { CompactionPlan } from '../model/compaction.js';
import type { ServerView, StoreStatus } from '../model/cluster.js';
import { secretKind } from '../model/kinds/index.js';
import { itemPath, paths } from './paths.js';

export type RoleName = 'viewer' | 'member' | 'admin';
export interface RoleBinding { project: string; role: RoleName }

/** GET /v1/whoami */
export interface Whoami {
  id: string;
  user?: string;
  token: string;
  clusterAdmin: boolean;
  roles: RoleBinding[];
  node?: string;
}

export function whoami(api: ApiClient): Promise<Whoami> {
  return api.request<Whoami>('GET', paths.whoami());
}

/** A token just made: its object and its secret, shown this once. */
export interface IssuedToken {
  token: Token;
  secret: string;
}

export interface CreateTokenRequest {
  name?: string;
  user?: string;
  roles?: RoleBinding[];
  clusterAdmin?: boolean;
  /** Lifetime such as "12h" or "30d". */
  expiresIn?: string;
  description?: string;
}

export function createToken(api: ApiClient, body: CreateTokenRequest): Promise<IssuedToken> {
  return api.request<IssuedToken>('POST', paths.tokens(), { body });
}

export function revokeToken(api: ApiClient, name: string): Promise<StoredObject<TokenSpec>> {
  return api.request('DELETE', paths.token(name));
}

/** Which nodes to drain to empty the most nodes (cluster admins; the server only plans). */
export function planCompaction(api: ApiClient, maxDrains?: number): Promise<CompactionPlan> {
  return api.request<CompactionPlan>('POST', paths.nodesCompact(), { query: { dryRun: 'true', ...(maxDrains !== undefined ? { maxDrains: String(maxDrains) } : {}) } });
}

/** A join token for `stratus agent --join-token` (cluster admins). */
export function createJoinToken(api: ApiClient, body: { expiresIn?: string; description?: string }): Promise<IssuedToken> {
  return api.request<IssuedToken>('POST', paths.joinTokens(), { body });
}

export interface JoinRequest {
  name: string;
  zone?: string;
  pool?: string;
  labels?: Record<string, string>;
}

/**
 * Registers a node: with a join token, answers the node and its credential's secret; with the
 * node's own credential, registers it again after it was deleted (no secret).
 */
export function joinNode(api: ApiClient, body: JoinRequest): Promise<{ node: Node; secret?: string }> {
  return api.request('POST', paths.nodeJoin(), { body });
}

export interface Member { user: string; role: RoleName }

export async function listMembers(api: ApiClient, project: string): Promise<Member[]> {
  return (await api.request<{ items: Member[] }>('GET', paths.members(project))).items;
}

export function setMember(api: ApiClient, project: string, user: string, role: RoleName): Promise<Member> {
  return api.request<Member>('PUT', paths.member(project, user), { body: { role } });
}

export function removeMember(api: ApiClient, project: string, user: string): Promise<{ user: string; removed: boolean }> {
  return api.request('DELETE', paths.member(project, user));
}

export interface LogOptions {
  follow?: boolean;
  tail?: number;
  stream?: 'stdout' | 'stderr';
}

/** Streams an instance's output to `onChunk` until it ends (or, following, until `signal` aborts). */
export function streamLogs(api: ApiClient, project: string, instance: string, opts: LogOptions, onChunk: (text: string) => void, signal: AbortSignal): Promise<void> {
  return api.stream(paths.instance(project, instance, 'logs'), { ...opts }, onChunk, signal);
}

/** Uploads an image's content (a tar archive, optionally gzipped). */
export function uploadImage(api: ApiClient, project: string, name: string, body: Readable): Promise<Image> {
  return api.upload<Image>(paths.imageContent(project, name), body);
}

/** Downloads an image's content into `file`. */
export function downloadImage(api: ApiClient, project: string, name: string, file: string): Promise<void> {
  return api.download(paths.imageContent(project, name), file);
}

/** A secret with its values (members and up; audited): spec.data (text) and spec.binaryData (base64). */
export function revealSecret<T = Record<string, unknown>>(api: ApiClient, project: string, name: string): Promise<StoredObject<T>> {
  return api.request('GET', itemPath(secretKind, name, project), { query: { reveal: true } });
}

/** What a node agent gets for an instance bound to its node: the values it uses, in base64, by secret and key. */
export interface InstanceSecrets {
  items: { name: string; data: Record<string, string> }[];
}

export function instanceSecrets(api: ApiClient, project: string, instance: string): Promise<InstanceSecrets> {
  return api.request<InstanceSecrets>('GET', paths.instance(project, instance, 'secrets'));
}

export function rotateSecretKeys(api: ApiClient): Promise<{ active: string; resealed: number; retired: string[]; kept: string[] }> {
  return api.request('POST', paths.secretKeysRotate());
}

/** Opens `stratus exec`'s stream (protocol: streams.ts) to a command in an instance. */
export function openExec(api: ApiClient, project: string, instance: string, query: { command: string[]; tty?: boolean; stdin?: boolean; cols?: number; rows?: number; term?: string }, signal?: AbortSignal): Promise<WebSocket> {
  return api.socket(paths.instance(project, instance, 'exec'), query, signal);
}

/** Attaches to an instance's console (a VM's serial port): raw bytes both ways (protocol: streams.ts, as port-forward). */
export function openConsole(api: ApiClient, project: string, instance: string, signal?: AbortSignal): Promise<WebSocket> {
  return api.socket(paths.instance(project, instance, 'console'), {}, signal);
}

/** POST .../stop | start | reboot: an instance's power action; resolves with the instance as it is now. */
export function instancePower<T extends StoredObject>(api: ApiClient, project: string, instance: string, action: 'stop' | 'start' | 'reboot'): Promise<T> {
  return api.request<T>('POST', paths.instance(project, instance, action));
}

/** Opens one forwarded connection to `port` of an instance (protocol: streams.ts). */
export function openPortForward(api: ApiClient, project: string, instance: string, port: number, signal?: AbortSignal): Promise<WebSocket> {
  return api.socket(paths.instance(project, instance, 'portforward'), { port }, signal);
}

export interface AuditQuery {
  limit?: number;
  before?: string;
  actor?: string;
  token?: string;
  project?: string;
  kind?: string;
  failed?: boolean;
}

export type { AuditEntry };

/** One page of the audit log, newest first; `before` asks for the next. */
export function listAudit(api: ApiClient, query: AuditQuery): Promise<{ items: AuditEntry[]; before?: string }> {
  return api.request('GET', paths.audit(), { query: { ...query } });
}

/**
 * Downloads a backup of the whole store (cluster admins; audited) into `file`, as the server
 * streams it; a download that breaks off leaves `file` without its end line (store/backup.ts).
 */
export function downloadBackup(api: ApiClient, file: string): Promise<void> {
  return api.download(paths.backup(), file);
}

/** POST .../plan: what applying the files would change, object by object and field by field; writes nothing. */
export function planStack(api: ApiClient, project: string, stack: string | undefined, body: StackRequest): Promise<StackPlanJson> {
  return api.request<StackPlanJson>('POST', paths.stack(project, stack, 'plan'), { body });
}

/** POST .../apply: writes the files' objects in dependsOn waves (and prunes); returns once written, or stopped at `waiting`. */
export function applyStack(api: ApiClient, project: string, stack: string | undefined, body: StackRequest, opts: { dryRun?: boolean } = {}): Promise<StackApplyResult> {
  return api.request<StackApplyResult>('POST', paths.stack(project, stack, 'apply'), { body, query: opts.dryRun ? { dryRun: true } : undefined });
}

export type { ServerView, StoreStatus };

/** GET /v1/servers: every server sharing the store, and which one leads. */
export function listServers(api: ApiClient): Promise<{ items: ServerView[] }> {
  return api.request('GET', paths.servers());
}

/** GET /v1/cluster/status: the servers and the store's members and health (cluster admins). */
export function clusterStatus(api: ApiClient): Promise<{ servers: ServerView[]; store: StoreStatus }> {
  return api.request('GET', paths.clusterStatus());
}
