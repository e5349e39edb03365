/**
 * One entry of the audit trail, as the API answers GET /v1/audit and the store keeps it
 * (policy/audit.ts writes them; the client reads them).
 */
export interface AuditEntry {
  id: string;
  time: string;
  actor: string;
  /** The token that acted (its name and uid): which of an actor's credentials it was. */
  token?: string;
  tokenUid?: string;
  method: string;
  path: string;
  action: string;
  kind?: string;
  project?: string;
  name?: string;
  status: number;
  code?: string;
  message?: string;
  revision?: number;
  sourceIp?: string;
  requestId?: string;
}
