/**
 * How the API server reaches the agent of an instance's node (logs, exec, port-forward): the
 * node's advertised agent address, and the key that signs requests to it (the SHA-256 of the
 * node's credential, which the store keeps; see client/node-signing.ts).
 */
import type { ApiDeps } from './server.js';
import { StratusError, type ErrorCode } from '../model/errors.js';
import { instanceKind, nodeKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Node } from '../model/kinds/node.js';
import { SIGNATURE_HEADER, sign } from '../client/node-signing.js';
import { nodeSigningKey } from '../policy/tokens.js';

export const AGENT_ADDRESS = 'agent';

export interface AgentLink {
  inst: Instance;
  node: string;
  /** http://host:port of the agent. */
  address: string;
  /** Signs `GET path` for the agent: the header to send. */
  sign(method: string, path: string): Record<string, string>;
}

/**
 * The agent of the node `project/name` is bound to. Throws NOT_FOUND (no such instance),
 * NOT_RUNNING (`what` needs a node the instance ran on) or UNAVAILABLE (the agent serves nothing).
 */
export async function agentOf(deps: ApiDeps, project: string, name: string, what: string): Promise<AgentLink> {
  const inst = await deps.repo.get<Instance>(instanceKind, name, project);
  const nodeName = inst.status?.node;
  if (!nodeName) throw new StratusError('STRATUS_ERR_NOT_RUNNING', `instance "${name}" has not run on any node yet (phase ${inst.status?.phase ?? 'Pending'}): ${what}`);
  return { inst, ...(await agentAt(deps, nodeName, what)) };
}

/** The agent of node `nodeName` (volume operations: the volume's node). Throws UNAVAILABLE when it serves nothing. */
export async function agentAt(deps: Pick<ApiDeps, 'repo' | 'clock'>, nodeName: string, what: string): Promise<Omit<AgentLink, 'inst'>> {
  const node = await deps.repo.find<Node>(nodeKind, nodeName);
  const address = node?.status?.addresses?.find((a) => a.type === AGENT_ADDRESS)?.address;
  const hash = await nodeSigningKey(deps.repo, nodeName);
  if (!address || !hash) throw new StratusError('STRATUS_ERR_UNAVAILABLE', `the agent of node "${nodeName}" does not serve ${what.replace(/^no /, '')} (is it running?)`);
  return { node: nodeName, address, sign: (method, path) => ({ [SIGNATURE_HEADER]: sign(hash, method, path, deps.clock.now()) }) };
}

/** Agent refusals passed on as they are; anything else is the agent being unavailable. */
const PASSED_ON = ['STRATUS_ERR_NOT_FOUND', 'STRATUS_ERR_NOT_RUNNING', 'STRATUS_ERR_BAD_REQUEST', 'STRATUS_ERR_FORBIDDEN', 'STRATUS_ERR_RATE_LIMITED'] as const;

/** An error answer of an agent (JSON or text) as the StratusError the API answers with. */
export function agentError(node: string, status: number, text: string): StratusError {
  let message = text;
  let code: string | undefined;
  try {
    const e = (JSON.parse(text) as { error: { message: string; code?: string } }).error;
    message = e.message;
    code = e.code;
  } catch { /* plain text */ }
  const mapped: ErrorCode = status === 404 ? 'STRATUS_ERR_NOT_FOUND' : code && (PASSED_ON as readonly string[]).includes(code) ? (code as ErrorCode) : 'STRATUS_ERR_UNAVAILABLE';
  return new StratusError(mapped, `node "${node}": ${message}`);
}
