/**
 * Networks of a node without a local instance, kept for a grace period: the next instance of the
 * network starts without making its bridge, VXLAN device and rules again (see
 * NetworkSyncOptions.networkGraceMs). Only timers; the caller removes the network.
 */
export class IdleNetworks {
  private readonly timers = new Map<number, { timer: NodeJS.Timeout; generation: number }>();
  private generation = 0;

  /** `expire(vni, generation)` is called once the grace period of `vni` ends, unless claimed before. */
  constructor(readonly graceMs: number, private readonly expire: (vni: number, generation: number) => void) {}

  /** Starts (again) the grace period of a network whose last local instance is gone. */
  hold(vni: number): void {
    this.claim(vni);
    const generation = ++this.generation;
    const timer = setTimeout(() => this.expire(vni, generation), this.graceMs);
    timer.unref();
    this.timers.set(vni, { timer, generation });
  }

  /** The network is used again, or removed: its grace period ends without `expire`. */
  claim(vni: number): void {
    clearTimeout(this.timers.get(vni)?.timer);
    this.timers.delete(vni);
  }

  /** Whether `generation` is still the current grace period of `vni` (not claimed or held again since). */
  current(vni: number, generation: number): boolean {
    return this.timers.get(vni)?.generation === generation;
  }

  vnis(): number[] {
    return [...this.timers.keys()];
  }

  clear(): void {
    for (const vni of this.vnis()) this.claim(vni);
  }
}
