import { afterEach, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { WebSocketServer, WebSocket } from 'ws';
import { attach, DETACH_BYTE } from './console.js';

let wss: WebSocketServer | undefined;
afterEach(() => wss?.close());

/** A console on the other end: echoes what it gets in upper case; `got` is everything it received. */
async function fakeConsole(): Promise<{ ws: WebSocket; got: () => string; server: () => WebSocket }> {
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss!.once('listening', r));
  let got = '';
  let peer: WebSocket | undefined;
  wss.on('connection', (s) => {
    peer = s;
    s.on('message', (d: Buffer) => {
      got += d.toString();
      s.send(Buffer.from(d.toString().toUpperCase()), { binary: true });
    });
  });
  const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
  await new Promise((r) => ws.once('open', r));
  return { ws, got: () => got, server: () => peer! };
}

describe('stratus console: attach', () => {
  it('relays keys and output, and detaches on Ctrl-] without sending it or anything after it', async () => {
    const { ws, got } = await fakeConsole();
    const input = new PassThrough();
    const output = new PassThrough();
    let shown = '';
    output.on('data', (d: Buffer) => (shown += d.toString()));
    const done = attach(ws, input, output);
    input.write('ls\n');
    await new Promise((r) => setTimeout(r, 50));
    input.write(Buffer.concat([Buffer.from('pwd'), Buffer.from([DETACH_BYTE]), Buffer.from('rm -rf /\n')]));
    expect(await done).toBe('Detached.');
    expect(got()).toBe('ls\npwd');
    expect(shown).toContain('LS\n');
  });

  it('says so when the console ends (the VM stopped) instead of the user detaching', async () => {
    const { ws, server } = await fakeConsole();
    const done = attach(ws, new PassThrough(), new PassThrough());
    await new Promise((r) => setTimeout(r, 20));
    server().close(1000);
    expect(await done).toBe('Console closed: the console ended (the VM stopped?)');
  });
});
