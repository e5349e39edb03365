/** The bearer secret of an Authorization header; the principal it stands for is policy/auth.ts's business. */
import { unauthenticated } from '../policy/auth.js';
import { BEARER_PROTOCOL } from '../client/bearer-protocol.js';

/** The token of `Authorization: Bearer <token>`; throws STRATUS_ERR_UNAUTHENTICATED for anything else. */
export function bearerToken(header: string | undefined): string {
  if (!header) throw unauthenticated('no credentials: send "Authorization: Bearer <token>" (stratus login saves one)');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw unauthenticated('the Authorization header must be "Bearer <token>"');
  if (m[1]!.length > 512) throw unauthenticated('the token is not valid');
  return m[1]!;
}

export { BEARER_PROTOCOL };

/**
 * A request's token: its Authorization header, or on a WebSocket upgrade without one, the
 * BEARER_PROTOCOL subprotocol (client/bearer-protocol.ts; ws selects the first protocol offered,
 * the stream's own). Throws STRATUS_ERR_UNAUTHENTICATED as bearerToken does.
 */
export function requestToken(headers: { authorization?: string; upgrade?: string; 'sec-websocket-protocol'?: string }): string {
  const offered = headers.upgrade?.toLowerCase() === 'websocket' && !headers.authorization
    ? (headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).find((p) => p.startsWith(BEARER_PROTOCOL))
    : undefined;
  if (offered === undefined) return bearerToken(headers.authorization);
  const encoded = offered.slice(BEARER_PROTOCOL.length);
  if (!/^[A-Za-z0-9_-]{1,700}$/.test(encoded)) throw unauthenticated(`the ${BEARER_PROTOCOL}<token> subprotocol must carry the token as base64url`);
  return bearerToken(`Bearer ${Buffer.from(encoded, 'base64url').toString('utf8')}`);
}
