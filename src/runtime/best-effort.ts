/**
 * Writes that may be dropped (events, a pending instance's explanation): at most `concurrency`
 * in flight, at most `queued` waiting, the newest dropped beyond that. A burst (a new leader
 * explaining a thousand pending instances at once) must not flood the store and delay what may
 * not wait, such as the leader's lease keep-alive.
 */
export class BestEffort {
  private running = 0;
  private readonly waiting: (() => Promise<unknown>)[] = [];
  /** Writes dropped because the queue was full. */
  dropped = 0;

  constructor(private readonly concurrency = 8, private readonly queued = 10_000) {}

  /**
   * Runs `fn` now or later, or drops it; resolves once it ran or was dropped, never rejects (its
   * failure goes to `onError`).
   */
  offer(fn: () => Promise<void>, onError: (e: Error) => void = () => undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const job = () => fn().catch(onError).finally(resolve);
      if (this.running < this.concurrency) return this.start(job);
      if (this.waiting.length >= this.queued) {
        this.dropped++;
        return resolve();
      }
      this.waiting.push(job);
    });
  }

  /** Jobs in flight and waiting. */
  get pending(): number {
    return this.running + this.waiting.length;
  }

  private start(job: () => Promise<unknown>): void {
    this.running++;
    void job().finally(() => {
      this.running--;
      const next = this.waiting.shift();
      if (next) this.start(next);
    });
  }
}
