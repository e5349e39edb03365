/** The runc command line, always with argument arrays and our own state root. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RuncState {
  id: string;
  pid: number;
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  bundle: string;
}

export class Runc {
  /** `root`: runc's state directory (kept apart from other runc users; tmpfs such as /run is right: state dies with the machine). */
  constructor(
    readonly bin: string,
    readonly root: string,
  ) {}

  private async call(args: string[], timeoutMs = 30_000): Promise<string> {
    const { stdout } = await run(this.bin, ['--root', this.root, ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  }

  /** "1.1.5+ds1", or undefined when runc cannot be run. */
  async version(): Promise<string | undefined> {
    try {
      const { stdout } = await run(this.bin, ['--version'], { timeout: 10_000 });
      return /runc version (\S+)/.exec(stdout)?.[1] ?? stdout.split('\n')[0];
    } catch {
      return undefined;
    }
  }

  /** The argv that runs a bundle in the foreground (runc stays as the container's parent and returns its status). */
  runArgv(id: string, bundle: string, pidFile: string, logFile: string): string[] {
    return [this.bin, '--root', this.root, '--log', logFile, '--log-format', 'json', 'run', '--keep', '--pid-file', pidFile, '--bundle', bundle, id];
  }

  async state(id: string): Promise<RuncState | undefined> {
    try {
      return JSON.parse(await this.call(['state', id])) as RuncState;
    } catch {
      return undefined;
    }
  }

  async list(): Promise<RuncState[]> {
    const out = await this.call(['list', '--format', 'json']);
    return (JSON.parse(out || 'null') as RuncState[] | null) ?? [];
  }

  /** Signals the container's init (or every process with `all`). A container that is gone is not an error. */
  async kill(id: string, signal: string, all = false): Promise<void> {
    await this.call(['kill', ...(all ? ['--all'] : []), id, signal]).catch(() => undefined);
  }

  /** Removes the container's state and cgroups, killing what still runs. Idempotent. */
  async delete(id: string): Promise<void> {
    try {
      await this.call(['delete', '--force', id]);
    } catch (e) {
      if ((await this.state(id)) !== undefined) throw e;
    }
  }

  /**
   * The argv of `runc exec`: the container's own process settings (user, capabilities, seccomp,
   * cwd, env) with `argv` as the program. With `tty`, runc makes a terminal inside the container
   * and relays it: its own stdin must then be a terminal.
   */
  execArgv(id: string, argv: string[], options: { env?: Record<string, string>; tty?: boolean } = {}): string[] {
    const env = Object.entries(options.env ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
    return [this.bin, '--root', this.root, 'exec', ...(options.tty ? ['--tty'] : []), ...env, id, ...argv];
  }
}
