/** The refusal to delete what is still used (a network, an image): it names the first users and counts the rest. */
import { StratusError } from '../model/errors.js';

/** How many users a refusal names before "and N more". */
const NAMED = 5;

/** Throws STRATUS_ERR_DEPENDENCY (422) when `users` ("service web", ...) is not empty. */
export function refuseWhileUsed(what: { kind: string; name: string; project: string }, users: string[], counts: Record<string, number>): void {
  if (users.length === 0) return;
  const more = users.length > NAMED ? ` and ${users.length - NAMED} more` : '';
  throw new StratusError(
    'STRATUS_ERR_DEPENDENCY',
    `${what.kind} "${what.name}" of project "${what.project}" is used by ${users.slice(0, NAMED).join(', ')}${more}; delete them first`,
    { ...what, ...counts },
  );
}
