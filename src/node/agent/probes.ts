/**
 * Health checks of one running instance, run by the agent of its node. Reports a change of
 * readiness after `successThreshold` passes or `failureThreshold` failures in a row, and, while the
 * instance is not ready, what the last check found (so a rollout that waits says why).
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import type { ResolvedHealthCheck } from '../../model/health.js';

export interface ProbeResult {
  ok: boolean;
  /** What the check found, for people: `GET http://10.0.0.5:8080/: connection refused`. */
  message: string;
}

/** What a command check's run returned: its exit code (null: a signal or the timeout) and output. */
export interface ExecOutcome {
  code: number | null;
  output?: string;
}

export interface ProbeTarget {
  /** Address the workload listens on, as seen from this node. */
  host: string;
  /** Where a port of the check listens (host networking: a declared port's host port). Default: the port itself. */
  portOf?: (port: number) => number;
  /** Runs a command inside the workload. */
  exec?: (argv: string[], timeoutMs: number) => Promise<ExecOutcome>;
}

/** The most of a command's output a result quotes (its end, where errors are). */
export const OUTPUT_TAIL = 200;

export async function probeOnce(check: ResolvedHealthCheck, target: ProbeTarget): Promise<ProbeResult> {
  switch (check.kind) {
    case 'http': return httpProbe(target.host, target.portOf?.(check.port!) ?? check.port!, check.path ?? '/', check.timeoutMs);
    case 'tcp': return tcpProbe(target.host, target.portOf?.(check.port!) ?? check.port!, check.timeoutMs);
    case 'command': return commandProbe(check.command!, check.timeoutMs, target);
  }
}

async function commandProbe(argv: string[], timeoutMs: number, target: ProbeTarget): Promise<ProbeResult> {
  const shown = argv.join(' ');
  if (!target.exec) return { ok: false, message: `${shown}: command checks need a driver that can exec` };
  const r = await target.exec(argv, timeoutMs).catch((e: Error) => { throw new Error(`${shown}: could not run: ${e.message}`); });
  const tail = outputTail(r.output ?? '');
  const how = r.code === null ? `did not finish within ${timeoutMs / 1000} s or was killed by a signal` : `exited ${r.code}`;
  return { ok: r.code === 0, message: `${shown} ${how}${tail ? `: ${tail}` : ''}` };
}

/** The last OUTPUT_TAIL characters of `output`, on one line. */
export function outputTail(output: string): string {
  const line = output.replace(/\s+/g, ' ').trim();
  return line.length > OUTPUT_TAIL ? `...${line.slice(-OUTPUT_TAIL)}` : line;
}

function httpProbe(host: string, port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
  return new Promise((resolve) => {
    const req = request({ host, port, path, method: 'GET', timeout: timeoutMs, agent: false, headers: { 'user-agent': 'stratus-health' } }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve({ ok: code >= 200 && code < 400, message: `GET ${url} answered ${code}` });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'TIMEOUT' })));
    req.on('error', (e) => resolve({ ok: false, message: `GET ${url}: ${networkError(e)}` }));
    req.end();
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = connect({ host, port, timeout: timeoutMs }, () => {
      sock.destroy();
      resolve({ ok: true, message: `connect ${host}:${port}: accepted` });
    });
    sock.on('timeout', () => sock.destroy(Object.assign(new Error(`no connection within ${timeoutMs / 1000} s`), { code: 'TIMEOUT' })));
    sock.on('error', (e) => resolve({ ok: false, message: `connect ${host}:${port}: ${networkError(e)}` }));
  });
}

const NETWORK_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available on this node',
};

/** "connection refused" rather than "connect ECONNREFUSED 10.0.0.5:8080" (the address is shown already). */
function networkError(e: Error): string {
  const code = (e as NodeJS.ErrnoException).code;
  return (code && NETWORK_ERRORS[code]) ?? e.message;
}

/**
 * Checks on an interval. Starts not ready. `onChange(ready, message)` is called when readiness
 * flips, and while not ready whenever a failing check finds something else than the last one
 * reported (the first failure, then each new reason; the same failure again is not repeated).
 */
export class Prober {
  private timer: NodeJS.Timeout | undefined;
  private passes = 0;
  private failures = 0;
  private ready = false;
  private stopped = false;
  private reported: string | undefined;

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
      if (!this.ready && this.passes >= this.check.successThreshold) this.report(true, result.message);
    } else {
      this.failures++;
      this.passes = 0;
      if (this.ready && this.failures >= this.check.failureThreshold) {
        this.report(false, `${result.message} (${this.failures} failure${this.failures > 1 ? 's' : ''} in a row)`, result.message);
      } else if (!this.ready && result.message !== this.reported) {
        this.report(false, result.message);
      }
    }
    this.schedule(this.check.intervalMs);
  }

  /** `found`: the check's own message, to tell the next failure apart from this one. */
  private report(ready: boolean, message: string, found = message): void {
    this.ready = ready;
    this.reported = found;
    this.onChange(ready, message);
  }
}
