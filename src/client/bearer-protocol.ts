/**
 * The WebSocket subprotocol that carries a token where no header can: a browser's
 * `new WebSocket(url, protocols)` sets no Authorization header, so the dashboard offers
 * `base64url.bearer.stratus.io.<token as base64url>` beside the stream's own protocol, and the
 * API reads it on upgrades only (src/api/bearer.ts requestToken). Kubernetes' API server reads its
 * browser clients' tokens the same way. Never in the URL: URLs end up in logs and history.
 */
export const BEARER_PROTOCOL = 'base64url.bearer.stratus.io.';
