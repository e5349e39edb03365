/**
 * Active health checks of load-balancer backends: TCP connect or HTTP GET.
 *
 * Guarantee: a backend that fails is reported unhealthy within one interval. Probes run twice
 * per interval and time out after a quarter of it (at most `timeoutMs`), so a failure that starts
 * right after a probe is seen by the next one at most ½ + ¼ of an interval later; one failed probe
 * is enough. A backend becomes healthy after `rise` successes in a row (default 1); new targets
 * start unhealthy and are probed at once, so a replica takes traffic only once it answers.
 */
import { connect } from 'node:net';
import { request } from 'node:http';

export type Probe = { type: 'tcp' } | { type: 'http'; path: string; host?: string };

export interface HealthTarget {
  /** Unique key of the target, e.g. "<service>|<ip>". */
  id: string;
  host: string;
  port: number;
  probe: Probe;
}

export interface HealthOptions {
  /** The health-check interval: how long a failed backend may keep receiving connections. */
  intervalMs: number;
  /** Upper bound of one probe; the effective timeout is min(this, interval / 4). Default 2000. */
  timeoutMs?: number;
  /** Successes in a row before a backend counts as healthy again. Default 1. */
  rise?: number;
  /** Injected for tests. */
  timers?: { setTimeout: typeof setTimeout; clearTimeout: typeof clearTimeout };
}

export type HealthListener = (id: string, healthy: boolean, reason: string) => void;

interface State {
  target: HealthTarget;
  healthy: boolean;
  successes: number;
  reason: string;
  probing: boolean;
}

/** Probes targets on a schedule and reports every change of health. */
export class HealthChecker {
  private readonly states = new Map<string, State>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private readonly timers: NonNullable<HealthOptions['timers']>;

  constructor(
    private readonly options: HealthOptions,
    private readonly listener: HealthListener,
  ) {
    if (!(options.intervalMs > 0)) throw new Error(`health-check interval must be positive, got ${options.intervalMs}`);
    this.timers = options.timers ?? { setTimeout, clearTimeout };
  }

  get periodMs(): number {
    return this.options.intervalMs / 2;
  }

  get probeTimeoutMs(): number {
    return Math.max(1, Math.min(this.options.timeoutMs ?? 2000, this.options.intervalMs / 4));
  }

  /** Replaces the set of targets. New ones start unhealthy and are probed at once; removed ones are forgotten silently. */
  setTargets(targets: readonly HealthTarget[]): void {
    const want = new Map(targets.map((t) => [t.id, t]));
    for (const id of [...this.states.keys()]) if (!want.has(id)) this.states.delete(id);
    for (const t of targets) {
      const s = this.states.get(t.id);
      if (s && sameTarget(s.target, t)) continue;
      this.states.set(t.id, { target: t, healthy: false, successes: 0, reason: 'not probed yet', probing: false });
      if (this.running) void this.probe(t.id);
    }
  }

  isHealthy(id: string): boolean {
    return this.states.get(id)?.healthy ?? false;
  }

  /** Ids of the healthy targets. */
  healthy(): string[] {
    return [...this.states.values()].filter((s) => s.healthy).map((s) => s.target.id);
  }

  status(id: string): { healthy: boolean; reason: string } | undefined {
    const s = this.states.get(id);
    return s ? { healthy: s.healthy, reason: s.reason } : undefined;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.tick();
  }

  stop(): void {
    this.running = false;
    if (this.timer) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Probes every target now; resolves when all probes finished. */
  async checkNow(): Promise<void> {
    await Promise.all([...this.states.keys()].map((id) => this.probe(id)));
  }

  private tick(): void {
    if (!this.running) return;
    void this.checkNow();
    this.timer = this.timers.setTimeout(() => this.tick(), this.periodMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  private async probe(id: string): Promise<void> {
    const s = this.states.get(id);
    if (!s || s.probing) return;
    s.probing = true;
    const failure = await runProbe(s.target, this.probeTimeoutMs);
    s.probing = false;
    if (this.states.get(id) !== s) return; // replaced or removed meanwhile
    if (failure === undefined) {
      s.successes++;
      s.reason = 'ok';
      if (!s.healthy && s.successes >= (this.options.rise ?? 1)) this.flip(s, true, 'ok');
    } else {
      s.successes = 0;
      s.reason = failure;
      if (s.healthy) this.flip(s, false, failure);
    }
  }

  private flip(s: State, healthy: boolean, reason: string): void {
    s.healthy = healthy;
    this.listener(s.target.id, healthy, reason);
  }
}

function sameTarget(a: HealthTarget, b: HealthTarget): boolean {
  return a.host === b.host && a.port === b.port && JSON.stringify(a.probe) === JSON.stringify(b.probe);
}

/** Runs one probe; resolves with undefined on success, or why it failed. Never rejects. */
export function runProbe(t: HealthTarget, timeoutMs: number): Promise<string | undefined> {
  return t.probe.type === 'tcp' ? tcpProbe(t.host, t.port, timeoutMs) : httpProbe(t, t.probe, timeoutMs);
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => done(`no TCP connection to ${host}:${port} within ${timeoutMs} ms`), timeoutMs);
    const done = (failure: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(failure);
    };
    socket.once('connect', () => done(undefined));
    socket.once('error', (e: NodeJS.ErrnoException) => done(`TCP connect to ${host}:${port}: ${e.code ?? e.message}`));
  });
}

function httpProbe(t: HealthTarget, probe: { path: string; host?: string }, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (failure: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(failure);
    };
    const req = request({ host: t.host, port: t.port, path: probe.path, method: 'GET', agent: false, headers: { host: probe.host ?? t.host, 'user-agent': 'stratus-health' } }, (res) => {
      const code = res.statusCode ?? 0;
      res.resume();
      done(code >= 200 && code < 400 ? undefined : `GET ${probe.path} on ${t.host}:${t.port} answered ${code}`);
    });
    const timer = setTimeout(() => done(`GET ${probe.path} on ${t.host}:${t.port}: no answer within ${timeoutMs} ms`), timeoutMs);
    req.once('error', (e: NodeJS.ErrnoException) => done(`GET ${probe.path} on ${t.host}:${t.port}: ${e.code ?? e.message}`));
    req.end();
  });
}
