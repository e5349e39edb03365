/** What every command action gets: its resolved target, an API client, and output helpers. */
import type { Command } from 'commander';
import { ApiClient, type Resources } from '../client/index.js';
import { collectionPath, itemPath } from '../client/paths.js';
import { resolveTarget, type Target } from './config.js';
import type { Kind, KindOf, StoredObject } from '../model/kind.js';
import { findKind, kindNames } from '../model/kinds/index.js';
import { CliError } from './errors.js';
import { dnsLabelProblem } from '../model/labels.js';

export interface GlobalFlags {
  server?: string;
  token?: string;
  context?: string;
  project?: string;
  allProjects?: boolean;
}

export class Cli {
  private target?: Target;
  private api?: ApiClient;

  constructor(readonly flags: GlobalFlags) {}

  static of(cmd: Command): Cli {
    return new Cli(cmd.optsWithGlobals() as GlobalFlags);
  }

  get ctx(): Target {
    this.target ??= resolveTarget(this.flags);
    return this.target;
  }

  get client(): ApiClient {
    this.api ??= new ApiClient(this.ctx.servers, this.ctx.token);
    return this.api;
  }

  get project(): string {
    return checkName('project', this.ctx.project);
  }

  /**
   * The typed client of `kind` in the current project (cluster kinds: the cluster), or with
   * `allProjects` across every project the caller can read (list and watch). Names are checked
   * before they go into a path.
   */
  resources<T extends StoredObject>(kind: KindOf<T>, allProjects = false): Resources<T> {
    const project = kind.scope === 'cluster' || allProjects ? undefined : this.project;
    return this.client.resources(kind, project, { checkName: (what, name) => void checkName(what, name) });
  }

  /** Collection path of a kind: /v1/projects/P/instances, /v1/nodes, or /v1/instances with -A. */
  collection(kind: Kind, allProjects = false): string {
    return collectionPath(kind, kind.scope === 'cluster' || allProjects ? undefined : this.project);
  }

  /** Path of one object of `kind` in the current project (its name checked first). */
  item(kind: Kind, name: string): string {
    return itemPath(kind, checkName(kind.kind, name), kind.scope === 'cluster' ? undefined : this.project);
  }
}

/** A name as the CLI got it, checked before it goes into a URL: the API would only say "params.name". */
export function checkName(what: string, name: string): string {
  const problem = dnsLabelProblem(name);
  if (problem) throw new CliError(`${what} name: ${problem}`, 2);
  return name;
}

export function kindArg(name: string): Kind {
  const kind = findKind(name);
  if (!kind) throw new CliError(`unknown kind "${name}" (known: ${kindNames().join(', ')})`, 2);
  return kind;
}
