/**
 * `stratus project delete --cascade` (and `stratus delete project P --cascade`): the server marks
 * the project Deleting and answers at once; its project-delete controller empties and deletes it.
 * The CLI waits for that by watching the project, and says what it still waits for if it takes
 * longer than it should.
 */
import type { Cli } from './context.js';
import { CliError } from './errors.js';
import { ResyncError } from '../client/index.js';
import { deletionOf } from '../model/kind.js';
import { findKind, projectKind } from '../model/kinds/index.js';
import { PROJECT_DELETING, type Project } from '../model/kinds/project.js';
import { plural } from '../model/format.js';

/** How long the CLI waits for a cascade delete before it gives up (the deletion goes on). */
const WAIT_MS = 5 * 60_000;

/** Deletes project `name` with everything in it; resolves once it is gone. */
export async function deleteProjectCascade(cli: Cli, name: string, timeoutMs = WAIT_MS): Promise<void> {
  const projects = cli.resources(projectKind);
  const marked = await projects.delete(name, { cascade: true }) as Project;
  if (marked.status?.phase !== PROJECT_DELETING) return; // deleted already (it held nothing)
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let gone = false;
  try {
    await projects.watch(marked.metadata.revision, (m) => {
      if (m.type !== 'delete' || m.object?.metadata.name !== name) return;
      gone = true;
      controller.abort();
    }, controller.signal).catch((e: unknown) => {
      if (!(e instanceof ResyncError)) throw e;
    });
    // A watch that had to start over ends here: where it stands decides.
    if (!gone) gone = (await projects.find(name)) === undefined || (!controller.signal.aborted && (await until(() => projects.find(name), controller.signal)));
  } finally {
    clearTimeout(timer);
  }
  if (gone) return;
  const left = deletionOf((await projects.find(name)) ?? {})?.waitingFor.filter((w) => w.count > 0) ?? [];
  const what = left.map((w) => plural(w.count, w.kind, findKind(w.kind)?.plural)).join(', ');
  throw new CliError(`project/${name} is still being deleted after ${Math.round(timeoutMs / 1000)} s${what ? `: waiting for ${what}` : ''} (the deletion goes on; stratus describe project ${name} shows it)`);
}

/** Polls until `find` finds nothing (true) or `signal` aborts (false). */
async function until(find: () => Promise<unknown>, signal: AbortSignal): Promise<boolean> {
  while (!signal.aborted) {
    if ((await find()) === undefined) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}
