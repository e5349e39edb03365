import { describe, it, expect } from 'vitest';
import { networkInterfaces } from 'node:os';
import { reachableListen, routeSource } from './agent-options.js';

/** A non-loopback IPv4 address of this machine, if it has one. */
const local = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

describe('where stratus agent serves logs', () => {
  it('finds the source address of the route to the server', async () => {
    expect(await routeSource('http://127.0.0.1:7070')).toBe('127.0.0.1');
    expect(await routeSource('not a url')).toBeUndefined();
    if (local) expect(await routeSource(`http://${local}:7070`)).toBe(local);
  });

  it.runIf(local)('listens on that address by default (not 127.0.0.1, which another machine cannot reach)', async () => {
    expect(await reachableListen({ host: '127.0.0.1', port: 0 }, `http://${local}:7070`, false)).toEqual({ host: local, port: 0 });
  });

  it.runIf(local)('advertises that address when told to listen on every interface', async () => {
    expect(await reachableListen({ host: '0.0.0.0', port: 7071 }, `http://${local}:7070`, true)).toEqual({ host: '0.0.0.0', port: 7071, advertise: local });
  });

  it('keeps what it was told: an explicit address to listen on, or to advertise', async () => {
    expect(await reachableListen({ host: '127.0.0.1', port: 7071 }, 'http://192.0.2.1:7070', true)).toEqual({ host: '127.0.0.1', port: 7071 });
    expect(await reachableListen({ host: '0.0.0.0', port: 0, advertise: 'agent.example' }, 'http://192.0.2.1:7070', true)).toEqual({ host: '0.0.0.0', port: 0, advertise: 'agent.example' });
  });
});
