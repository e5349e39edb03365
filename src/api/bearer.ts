/** The bearer secret of an Authorization header; the principal it stands for is policy/auth.ts's business. */
import { unauthenticated } from '../policy/auth.js';

/** The token of `Authorization: Bearer <token>`; throws STRATUS_ERR_UNAUTHENTICATED for anything else. */
export function bearerToken(header: string | undefined): string {
  if (!header) throw unauthenticated('no credentials: send "Authorization: Bearer <token>" (stratus login saves one)');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw unauthenticated('the Authorization header must be "Bearer <token>"');
  if (m[1]!.length > 512) throw unauthenticated('the token is not valid');
  return m[1]!;
}
