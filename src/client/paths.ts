/**
 * Every path of the Stratus API, built in one place: the kinds' generic routes come from their
 * descriptors (scope and plural), the other routes are spelled here. Nothing outside src/client/
 * spells a `/v1/...` path (lint refuses it: eslint.config.js API_PATHS); callers use the typed
 * client (resources.ts, routes.ts), which uses these.
 */
import type { Kind } from '../model/kind.js';

/** The version prefix of every API route. */
export const API_PREFIX = '/v1';

const seg = encodeURIComponent;

/**
 * The collection of a kind: `/v1/projects/P/instances` for a project kind in `project`,
 * `/v1/instances` for a project kind across every project the caller can read (no `project`),
 * `/v1/nodes` for a cluster kind (`project` ignored).
 */
export function collectionPath(kind: Kind, project?: string): string {
  if (kind.scope === 'cluster' || project === undefined) return `${API_PREFIX}/${kind.plural}`;
  return `${API_PREFIX}/projects/${seg(project)}/${kind.plural}`;
}

/** One object: `/v1/projects/P/instances/NAME`, `/v1/nodes/NAME`, `/v1/projects/NAME` (a project). Throws when a project kind gets no project. */
export function itemPath(kind: Kind, name: string, project?: string): string {
  if (kind.scope === 'project' && project === undefined) throw new Error(`a ${kind.kind} is named within a project: no project given for ${kind.kind} "${name}"`);
  return `${collectionPath(kind, project)}/${seg(name)}`;
}

/** The routes that are not a kind's generic ones. */
export const paths = {
  whoami: () => `${API_PREFIX}/whoami`,
  tokens: () => `${API_PREFIX}/tokens`,
  token: (name: string) => `${API_PREFIX}/tokens/${seg(name)}`,
  joinTokens: () => `${API_PREFIX}/join-tokens`,
  nodeJoin: () => `${API_PREFIX}/nodes/join`,
  /** Compaction plan (issue 18), cluster admins: POST ?dryRun=true. */
  nodesCompact: () => `${API_PREFIX}/nodes/compact`,
  members: (project: string) => `${API_PREFIX}/projects/${seg(project)}/members`,
  member: (project: string, user: string) => `${API_PREFIX}/projects/${seg(project)}/members/${seg(user)}`,
  audit: () => `${API_PREFIX}/audit`,
  /** The whole store at one revision (store/backup.ts's format), cluster admins. */
  backup: () => `${API_PREFIX}/backup`,
  servers: () => `${API_PREFIX}/servers`,
  clusterStatus: () => `${API_PREFIX}/cluster/status`,
  /** A node's usage reports (its agent), and usage read by people (api/routes/usage.ts). */
  nodeUsage: (node: string) => `${API_PREFIX}/nodes/${seg(node)}/usage`,
  usageInstances: () => `${API_PREFIX}/usage/instances`,
  usageNodes: () => `${API_PREFIX}/usage/nodes`,
  /** Cost reports and the FOCUS export (api/routes/costs.ts). */
  costs: () => `${API_PREFIX}/costs`,
  costsFocus: () => `${API_PREFIX}/costs/focus`,
  secretKeysRotate: () => `${API_PREFIX}/secret-keys/rotate`,
  /** A sub-resource of an instance: logs, secrets (node agents), exec, portforward, console (WebSockets), usage, power actions. */
  instance: (project: string, name: string, sub: 'logs' | 'secrets' | 'exec' | 'portforward' | 'console' | 'usage' | 'stop' | 'start' | 'reboot') =>
    `${API_PREFIX}/projects/${seg(project)}/instances/${seg(name)}/${sub}`,
  imageContent: (project: string, name: string) => `${API_PREFIX}/projects/${seg(project)}/images/${seg(name)}/content`,
  /** Plan or apply stack files: of stack `stack`, or (undefined) of the stack the files name, or of plain objects. */
  stack: (project: string, stack: string | undefined, op: 'plan' | 'apply') =>
    `${API_PREFIX}/projects/${seg(project)}/${stack === undefined ? '' : `stacks/${seg(stack)}/`}${op}`,
};
