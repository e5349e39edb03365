/**
 * Who is logged in: the token (sessionStorage only: gone with the tab, never in a URL), the
 * caller's whoami, the project chosen in the switcher, and what the caller's role allows there.
 * Pages hide what would fail: `can('member')` before a write button, `isClusterAdmin()` for
 * cluster-wide actions.
 */
import { computed, signal } from '@preact/signals';
import { Api, type ApiError, type Whoami } from '../api/client.js';
import { stopAllWatchLists } from '../api/watch-list.js';

const TOKEN_KEY = 'stratus.token';
const PROJECT_KEY = 'stratus.project';

export type Role = 'viewer' | 'member' | 'admin';
const RANK: Record<Role, number> = { viewer: 1, member: 2, admin: 3 };

export const session = {
  api: signal<Api | undefined>(undefined),
  whoami: signal<Whoami | undefined>(undefined),
  /** The project the switcher selects; '' = every project the caller can read (list pages only). */
  project: signal<string>(sessionStorage.getItem(PROJECT_KEY) ?? ''),
  /** Why the last login failed, or why the session ended (a revoked token). */
  message: signal<string | undefined>(undefined),
};

/** The caller's role in `project` (cluster admins: admin everywhere); undefined: none. */
export function roleIn(project: string | undefined, who = session.whoami.value): Role | undefined {
  if (!who) return undefined;
  if (who.clusterAdmin) return 'admin';
  const held = who.roles.filter((r) => project === undefined || project === '' || r.project === project).map((r) => RANK[r.role]);
  if (held.length === 0) return undefined;
  const best = Math.max(...held);
  return (Object.keys(RANK) as Role[]).find((r) => RANK[r] === best);
}

/** Whether the caller holds at least `role` in `project` (default: the selected one). */
export function can(role: Role, project: string | undefined = session.project.value): boolean {
  const held = roleIn(project);
  return held !== undefined && project !== '' && RANK[held] >= RANK[role];
}

export function isClusterAdmin(): boolean {
  return session.whoami.value?.clusterAdmin === true;
}

/** The caller's role in the selected project, for the header. */
export const currentRole = computed(() => (session.whoami.value?.clusterAdmin ? 'cluster admin' : roleIn(session.project.value) ?? 'no role'));

export function selectProject(project: string): void {
  session.project.value = project;
  sessionStorage.setItem(PROJECT_KEY, project);
}

/** Checks `token` with whoami; keeps it for the tab when the server accepts it. */
export async function login(token: string): Promise<boolean> {
  const api = new Api(token.trim(), expired);
  try {
    const who = await api.whoami();
    sessionStorage.setItem(TOKEN_KEY, token.trim());
    session.whoami.value = who;
    session.api.value = api;
    session.message.value = undefined;
    if (!session.project.value && !who.clusterAdmin && who.roles[0]) selectProject(who.roles[0].project);
    return true;
  } catch (e) {
    const err = e as ApiError;
    session.message.value = err.status === 401
      ? `The server did not accept this token (${err.message}). Check that you copied the whole token and that it has not expired or been revoked.`
      : `Could not log in: ${err.message}`;
    return false;
  }
}

/** Logs in again with the tab's token, if it holds one (a reload). */
export async function resume(): Promise<void> {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) await login(token);
}

export function logout(message?: string): void {
  sessionStorage.removeItem(TOKEN_KEY);
  stopAllWatchLists();
  session.api.value = undefined;
  session.whoami.value = undefined;
  session.message.value = message;
}

function expired(e: ApiError): void {
  logout(`Your session ended: the server no longer accepts the token (${e.message}). Log in again.`);
}
