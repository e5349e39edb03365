/**
 * A browser's WebSocket sends no Authorization header: the dashboard offers its token as the
 * `base64url.bearer.stratus.io.<token>` subprotocol (src/api/bearer.ts), against a real server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { ADMIN_TOKEN, startTestServer, type TestServer } from './helpers/server.js';
import { BEARER_PROTOCOL } from '../src/api/bearer.js';

let server: TestServer;
beforeAll(async () => { server = await startTestServer(); });
afterAll(async () => { await server?.stop(); server?.cleanup(); });

const b64 = (s: string) => Buffer.from(s).toString('base64url');

/** The HTTP status refusing a WebSocket upgrade of `url` that offers `protocols` (as a browser sends it). */
function refusal(url: string, protocols: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: {
      connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13',
      'sec-websocket-key': randomBytes(16).toString('base64'), 'sec-websocket-protocol': protocols.join(', '),
    } });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('upgrade', (_res, socket) => { socket.destroy(); reject(new Error('upgraded')); });
    req.on('error', reject);
    req.end();
  });
}

describe('a WebSocket without an Authorization header', () => {
  it('is authenticated by the bearer subprotocol: 404 for a missing instance instead of 401', async () => {
    const url = `${server.url}/v1/projects/default/instances/nope/console`;
    expect(await refusal(url, ['stratus.console'])).toBe(401);
    expect(await refusal(url, ['stratus.console', `${BEARER_PROTOCOL}${b64('wrong-token-0123456789')}`])).toBe(401);
    expect(await refusal(url, ['stratus.console', `${BEARER_PROTOCOL}${b64(ADMIN_TOKEN)}`])).toBe(404);
  });
});
