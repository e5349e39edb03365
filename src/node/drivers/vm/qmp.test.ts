import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient, QmpError, qmpExecute } from './qmp.js';

const GREETING = { QMP: { version: { qemu: { major: 7, minor: 2, micro: 22 }, package: '' }, capabilities: ['oob'] } };

/** A fake QEMU monitor: greets, then answers each command with `reply(cmd)`; records what it got. */
function fakeQemu(reply: (msg: { execute: string; arguments?: unknown; id?: string }, sock: Socket) => unknown, greet = true) {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-qmp-'));
  const path = join(dir, 'qmp.sock');
  const got: { execute: string; arguments?: unknown }[] = [];
  const server: Server = createServer((sock) => {
    if (greet) sock.write(`${JSON.stringify(GREETING)}\r\n`);
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { execute: string; arguments?: unknown; id?: string };
        buf = buf.slice(nl + 1);
        got.push({ execute: msg.execute, ...(msg.arguments ? { arguments: msg.arguments } : {}) });
        const r = reply(msg, sock);
        if (r !== undefined) sock.write(`${JSON.stringify({ ...(r as object), id: msg.id })}\r\n`);
      }
    });
  });
  server.listen(path);
  return { path, got, close: () => new Promise<void>((r) => server.close(() => (rmSync(dir, { recursive: true, force: true }), r()))) };
}

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe('QmpClient', () => {
  it('negotiates capabilities, then runs commands with their arguments and returns their results', async () => {
    const q = fakeQemu((m) => (m.execute === 'query-status' ? { return: { status: 'running', running: true } } : { return: {} }));
    cleanup = q.close;
    const c = await QmpClient.connect(q.path);
    expect(c.version).toBe('7.2.22');
    expect(await c.execute('query-status')).toEqual({ status: 'running', running: true });
    await c.execute('device_del', { id: 'disk1' });
    c.close();
    expect(q.got).toEqual([{ execute: 'qmp_capabilities' }, { execute: 'query-status' }, { execute: 'device_del', arguments: { id: 'disk1' } }]);
  });

  it('matches answers to commands by id, whatever order they come in, and passes events on', async () => {
    const held: { id?: string; sock: Socket }[] = [];
    const q = fakeQemu((m, sock) => {
      if (m.execute === 'qmp_capabilities') return { return: {} };
      held.push({ id: m.id!, sock });
      if (held.length === 2) {
        sock.write(`${JSON.stringify({ event: 'POWERDOWN', timestamp: { seconds: 1, microseconds: 0 } })}\n`);
        for (const h of held.reverse()) sock.write(`${JSON.stringify({ return: h.id, id: h.id })}\n`);
      }
      return undefined;
    });
    cleanup = q.close;
    const c = await QmpClient.connect(q.path);
    const event = c.nextEvent('POWERDOWN');
    const [a, b] = await Promise.all([c.execute<string>('one'), c.execute<string>('two')]);
    expect(a).not.toBe(b);
    expect([a, b]).toEqual([held[1]!.id, held[0]!.id]);
    expect((await event).event).toBe('POWERDOWN');
    c.close();
  });

  it('rejects a QMP error with its class and description', async () => {
    const q = fakeQemu((m) => (m.execute === 'qmp_capabilities' ? { return: {} } : { error: { class: 'CommandNotFound', desc: 'The command nope has not been found' } }));
    cleanup = q.close;
    const err = await qmpExecute(q.path, 'nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpError);
    expect(err).toMatchObject({ errorClass: 'CommandNotFound', message: 'The command nope has not been found' });
  });

  it('rejects pending commands when QEMU goes away, and times out without a greeting', async () => {
    const q = fakeQemu((m, sock) => (m.execute === 'qmp_capabilities' ? { return: {} } : (sock.destroy(), undefined)));
    cleanup = q.close;
    const c = await QmpClient.connect(q.path);
    await expect(c.execute('quit')).rejects.toThrow(/closed/);
    await expect(c.execute('again')).rejects.toThrow(/closed/);

    const silent = fakeQemu(() => undefined, false);
    await expect(QmpClient.connect(silent.path, 100)).rejects.toThrow(/no QMP greeting .* within 100 ms/);
    await silent.close();
    await expect(QmpClient.connect(join(tmpdir(), 'no-such-qmp.sock'))).rejects.toThrow(/ENOENT/);
  });
});
