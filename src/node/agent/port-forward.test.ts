import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { forwardTarget, listenersOf, StreamRefused } from './port-forward.js';
import type { Instance } from '../../model/kinds/instance.js';
import type { TaskHandle } from '../drivers/index.js';

const root = process.getuid?.() === 0;
const children: ChildProcess[] = [];
const servers: Server[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const s of servers.splice(0)) s.close();
});

const handle = (pid: number) => ({ pid }) as TaskHandle;
const inst = (ports: number[], ip?: string) => ({ metadata: { name: 'web', project: 'p' }, spec: { ports: ports.map((port) => ({ port })) }, status: { phase: 'Running', ...(ip ? { ip } : {}) } }) as unknown as Instance;

/** A node program in new namespaces (unshare); resolves with the pid of the program inside them. */
async function inNamespaces(flags: string[], script: string, env: Record<string, string> = {}): Promise<number> {
  const child = spawn('unshare', [...flags, '--fork', process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  children.push(child);
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/);
  return Number(kids[0]);
}

async function listening(): Promise<number> {
  const s = createServer();
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as AddressInfo).port;
}

const LISTEN = (port: number) => `require('net').createServer().listen(${port}, '127.0.0.1', () => console.log('up'))`;

describe('forwardTarget', () => {
  it('refuses a task whose processes cannot be told apart from the node\'s (same pid namespace and cgroup)', async () => {
    const port = await listening();
    await expect(forwardTarget(handle(process.pid), inst([]), port)).rejects.toThrow(/cannot be told apart/);
  });

  it.skipIf(!root)('host networking: only ports the task\'s own processes listen on, declared ports through PORT_<port>', async () => {
    const node = await listening(); // the node's service, e.g. the API server
    const free = await listening();
    servers.pop()!.close();
    const pid = await inNamespaces(['--pid', '--mount-proc'], LISTEN(free), { PORT_8080: String(free) });
    expect(await listenersOf(pid)).toEqual(new Set([free]));
    expect(await forwardTarget(handle(pid), inst([8080]), 8080)).toEqual({ host: '127.0.0.1', port: free });
    expect(await forwardTarget(handle(pid), inst([8080]), free)).toEqual({ host: '127.0.0.1', port: free });
    const refused = await forwardTarget(handle(pid), inst([8080]), node).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(StreamRefused);
    expect((refused as StreamRefused).status).toBe(403);
    expect((refused as Error).message).toMatch(/does not listen on port \d+: only its own ports/);
  });

  it.skipIf(!root)('a task in its own network namespace: its address, whatever the port', async () => {
    const pid = await inNamespaces(['--net'], LISTEN(8080));
    expect(await forwardTarget(handle(pid), inst([], '10.1.2.3'), 22)).toEqual({ host: '10.1.2.3', port: 22 });
    await expect(forwardTarget(handle(pid), inst([]), 22)).rejects.toThrow(/has no address yet/);
  });
});
