/**
 * Starts the server's components in order and stops them in reverse. Each component says
 * when it is ready; /readyz reports them one by one. No global singletons: everything a
 * component needs is passed to its constructor.
 */
export interface Component {
  readonly name: string;
  /** Resolves once the component serves. Called at most once. */
  start(): Promise<void>;
  /** Stops; idempotent. */
  stop(): Promise<void>;
  /** '' when healthy, otherwise why not. */
  health?(): string;
  /** The checks of the components this one runs (name → 'ok' or the problem), shown beside its own. */
  checks?(): Record<string, string>;
}

export class Runner {
  private readonly started: Component[] = [];
  private stopping = false;

  constructor(private readonly log: (msg: string) => void = () => undefined) {}

  async start(components: Component[]): Promise<void> {
    for (const c of components) {
      await c.start();
      this.started.push(c);
      this.log(`started ${c.name}`);
    }
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const c of [...this.started].reverse()) {
      try {
        await c.stop();
      } catch (e) {
        this.log(`stopping ${c.name} failed: ${(e as Error).message}`);
      }
    }
  }

  readiness(): { ready: boolean; checks: Record<string, string> } {
    const checks: Record<string, string> = {};
    let ready = !this.stopping && this.started.length > 0;
    for (const c of this.started) {
      const problem = c.health?.() ?? '';
      checks[c.name] = problem || 'ok';
      if (problem) ready = false;
      Object.assign(checks, c.checks?.());
    }
    if (this.stopping) checks.server = 'stopping';
    return { ready, checks };
  }
}

/** Runs `fn` every `ms` without overlapping runs; errors go to `onError`. */
export function every(ms: number, fn: () => Promise<void>, onError: (e: unknown) => void): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    fn().catch(onError).finally(() => {
      running = false;
    });
  }, ms);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
