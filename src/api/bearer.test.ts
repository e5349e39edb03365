import { describe, expect, it } from 'vitest';
import { BEARER_PROTOCOL, requestToken } from './bearer.js';

const b64 = (s: string) => Buffer.from(s).toString('base64url');

describe('requestToken', () => {
  it('reads the Authorization header', () => {
    expect(requestToken({ authorization: 'Bearer abc' })).toBe('abc');
  });

  it('reads the bearer subprotocol of a WebSocket upgrade that has no Authorization header', () => {
    expect(requestToken({ upgrade: 'websocket', 'sec-websocket-protocol': `stratus.console, ${BEARER_PROTOCOL}${b64('stratus_x')}` })).toBe('stratus_x');
    expect(requestToken({ upgrade: 'websocket', authorization: 'Bearer header-wins', 'sec-websocket-protocol': `${BEARER_PROTOCOL}${b64('other')}` })).toBe('header-wins');
  });

  it('never reads the subprotocol of a plain request, and refuses a malformed one', () => {
    expect(() => requestToken({ 'sec-websocket-protocol': `${BEARER_PROTOCOL}${b64('x')}` })).toThrow(/no credentials/);
    expect(() => requestToken({ upgrade: 'websocket', 'sec-websocket-protocol': `${BEARER_PROTOCOL}not base64!` })).toThrow(/base64url/);
    expect(() => requestToken({ upgrade: 'websocket', 'sec-websocket-protocol': `${BEARER_PROTOCOL}${b64('two words')}` })).toThrow(/Bearer <token>/);
  });
});
