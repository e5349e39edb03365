/**
 * Health checks of one running instance, run by the agent of its node. Reports a change of
 * readiness after `successThreshold` passes or `failureThreshold` failures in a row.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import type { ResolvedHealthCheck } from '../model/health.js';

export interface ProbeResult {
  ok: boolean;
  message: string;
}

export interface ProbeTarget {
  /** Address the workload listens on, as seen from this node. */
  host: string;
  /** Runs a command inside the workload; resolves with its exit code. */
  exec?: (argv: string[], timeoutMs: number) => Promise<number | null>;
}

export async function probeOnce(check: ResolvedHealthCheck, target: ProbeTarget): Promise<ProbeResult> {
  switch (check.kind) {
    case 'http': return httpProbe(target.host, check.port!, check.path ?? '/', check.timeoutMs);
    case 'tcp': return tcpProbe(target.host, check.port!, check.timeoutMs);
    case 'command': {
      if (!target.exec) return { ok: false, message: 'command checks need a driver that can exec' };
      const code = await target.exec(check.command!, check.timeoutMs).catch((e: Error) => { throw new Error(`exec: ${e.message}`); });
      return code === 0 ? { ok: true, message: `${check.command![0]} exited 0` } : { ok: false, message: `${check.command![0]} exited ${code ?? 'by a signal or timeout'}` };
    }
  }
}

function httpProbe(host: string, port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, method: 'GET', timeout: timeoutMs, headers: { 'user-agent': 'stratus-health' } }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve(code >= 200 && code < 400 ? { ok: true, message: `GET ${path} answered ${code}` } : { ok: false, message: `GET ${path} answered ${code}` });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve({ ok: false, message: `GET http://${host}:${port}${path}: ${e.message}` }));
    req.end();
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = connect({ host, port, timeout: timeoutMs }, () => {
      sock.destroy();
      resolve({ ok: true, message: `port ${port} accepts connections` });
    });
    sock.on('timeout', () => sock.destroy(new Error(`no connection within ${timeoutMs} ms`)));
    sock.on('error', (e) => resolve({ ok: false, message: `connect ${host}:${port}: ${e.message}` }));
  });
}

/** Checks on an interval; calls `onChange` when readiness flips. Starts not ready. */
export class Prober {
  private timer: NodeJS.Timeout | undefined;
  private passes = 0;
  private failures = 0;
  private ready = false;
  private stopped = false;

  constructor(
    private readonly check: ResolvedHealthCheck,
    private readonly target: () => ProbeTarget,
    private readonly onChange: (ready: boolean, message: string) => void,
  ) {}

  start(): void {
    this.schedule(this.check.initialDelayMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.run(), ms);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    const result = await probeOnce(this.check, this.target()).catch((e: Error) => ({ ok: false, message: e.message }));
    if (this.stopped) return;
    if (result.ok) {
      this.passes++;
      this.failures = 0;
      if (!this.ready && this.passes >= this.check.successThreshold) this.flip(true, result.message);
    } else {
      this.failures++;
      this.passes = 0;
      if (this.ready && this.failures >= this.check.failureThreshold) {
        this.flip(false, `${result.message} (${this.failures} failure${this.failures > 1 ? 's' : ''} in a row)`);
      }
    }
    this.schedule(this.check.intervalMs);
  }

  private flip(ready: boolean, message: string): void {
    this.ready = ready;
    this.onChange(ready, message);
  }
}
