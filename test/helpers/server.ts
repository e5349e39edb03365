/**
 * Starts a real `stratus server` process on a free port with a fresh data directory.
 * Every test server is stopped by the test that started it (or by the exit hook).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'stratus.js');

export interface TestServer {
  url: string;
  token: string;
  dataDir: string;
  proc: ChildProcess;
  output: () => string;
  /** Stops with SIGTERM and waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, no cleanup. */
  kill(): Promise<void>;
  /** Removes the data dir (after stop/kill). */
  cleanup(): void;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

/** A real server process. Without `agent: true` it runs no embedded agent (no workloads run). */
export async function startTestServer(opts: { dataDir?: string; args?: string[]; env?: Record<string, string>; agent?: boolean } = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'stratus-test-'));
  const agentArgs = opts.agent ? [] : ['--no-agent'];
  const proc = spawn(process.execPath, [BIN, 'server', '--data-dir', dataDir, '--port', '0', '--store-sync', 'normal', ...agentArgs, ...(opts.args ?? [])], {
    env: { ...process.env, STRATUS_BOOTSTRAP_TOKEN: ADMIN_TOKEN, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 30_000);
    const check = () => {
      const m = /ready at (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePromise(m[1]!);
      }
    };
    proc.stdout!.on('data', check);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  return {
    url,
    token: ADMIN_TOKEN,
    dataDir,
    proc,
    output: () => out,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
      running.delete(proc);
    },
    kill: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
      running.delete(proc);
    },
    cleanup: () => rmSync(dataDir, { recursive: true, force: true }),
  };
}

/** A small JSON client for tests: returns status and parsed body, never throws on HTTP errors. */
export function client(url: string, token?: string) {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test bodies are checked field by field
  return async function call<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T; headers: Headers }> {
    const h: Record<string, string> = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers };
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await fetch(url + path, { method, headers: h, body: payload });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // keep text
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  };
}

export function instance(name: string, extra: Record<string, unknown> = {}, labels: Record<string, string> = {}) {
  return { kind: 'instance', metadata: { name, labels }, spec: { driver: 'process', command: ['sleep', '3600'], resources: { cpu: '100m', memory: '64Mi' }, ...extra } };
}

/**
 * Waits until `node`'s agent runs overlay networking. Agents of test servers share this machine's
 * network namespace, and only one may manage it: the others fall back to host networking and
 * probe again every 30 s (src/node/agent/network.ts), so a test that needs per-instance network
 * namespaces waits here for another test file's agent to let go. Throws with the node's last
 * Networking condition when it does not come.
 */
export async function overlayNetworking(api: ReturnType<typeof client>, node: string, ms = 300_000): Promise<void> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    const res = await api('GET', `/v1/nodes/${node}`).catch(() => undefined);
    last = (res?.body as { status?: { conditions?: { type: string; reason?: string }[] } } | undefined)?.status?.conditions?.find((c) => c.type === 'Networking');
    if ((last as { reason?: string } | undefined)?.reason === 'overlay') return;
    if (Date.now() > end) throw new Error(`node ${node} never ran overlay networking: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
