/**
 * Components that run only while this process leads (controllers, the scheduler): one Component
 * for the server's runner that campaigns at start and, each time it is elected, builds the
 * components afresh and starts them in order; when leadership is lost (or the server stops) they
 * are stopped in reverse before the lease can expire (runtime/leader.ts).
 *
 *   runner ─▶ WhileLeading.start ─▶ LeaderElection ─ elected ─▶ build() ─▶ Runner.start(components)
 *                                                  ─ lost ────▶ Runner.stop()
 *
 * With one server it leads at once: `start` resolves after the components started, as if they
 * were started directly. Its health is that of the components it runs ('' while following: a
 * follower is ready, it serves the API).
 */
import { Runner, type Component } from './component.js';
import { LeaderElection, type LeaderOptions } from './leader.js';
import type { Repository } from '../store/repository.js';
import { StoreUnavailable } from '../store/backend.js';

export type LeadingOptions = Omit<LeaderOptions, 'onStartedLeading' | 'onStoppedLeading'>;

export class WhileLeading implements Component {
  readonly name: string;
  readonly election: LeaderElection;
  private runner: Runner | undefined;
  private components: Component[] = [];
  /** Within start(): a failure to start the components is start's failure. */
  private starting = true;
  private failure: Error | undefined;

  /** `build` makes new components for each term (a Component starts at most once). */
  constructor(repo: Repository, options: LeadingOptions, private readonly build: () => Component[]) {
    this.name = `leader:${options.election}`;
    this.election = new LeaderElection(repo, {
      ...options,
      onStartedLeading: () => this.startComponents(),
      onStoppedLeading: () => this.stopComponents(),
    });
  }

  /** Campaigns; if elected at once, the components started (a failure among them fails this start, as it would without election). */
  async start(): Promise<void> {
    await this.election.start();
    if (this.failure) {
      await this.election.stop();
      throw this.failure;
    }
    this.starting = false;
  }

  stop(): Promise<void> {
    return this.election.stop();
  }

  health(): string {
    for (const c of this.components) {
      const problem = c.health?.() ?? '';
      if (problem) return `${c.name}: ${problem}`;
    }
    return '';
  }

  /** The components running now (none while following), as the Runner shows its own. */
  checks(): Record<string, string> {
    return Object.fromEntries(this.components.map((c) => [c.name, c.health?.() || 'ok']));
  }

  private async startComponents(): Promise<void> {
    this.runner = new Runner();
    this.components = this.build();
    try {
      await this.runner.start(this.components);
    } catch (e) {
      // A store that does not answer now is no reason to fail the server: it steps down and
      // campaigns again (runtime/leader.ts); anything else fails a first start as it would alone.
      if (this.starting && !(e instanceof StoreUnavailable)) this.failure = e as Error;
      throw e;
    }
  }

  private async stopComponents(): Promise<void> {
    const runner = this.runner;
    this.runner = undefined;
    this.components = [];
    await runner?.stop();
  }
}
