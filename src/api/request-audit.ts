/** The audit record of an HTTP request (the audit log itself is policy/audit.ts). */
import type { FastifyRequest } from 'fastify';
import type { AuditInput } from '../policy/audit.js';

const ACTIONS: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/** The audit record of an HTTP request answered with `status`. */
export function requestAudit(req: FastifyRequest, status: number): AuditInput {
  const params = (req.params ?? {}) as { project?: string; name?: string };
  const permission = req.routeOptions.config?.permission;
  const routeKind = typeof permission === 'object' && 'kind' in permission ? permission.kind.kind : undefined;
  const bodyName = (req.body as { metadata?: { name?: unknown } } | undefined)?.metadata?.name;
  const target = {
    kind: req.target?.kind ?? routeKind,
    project: req.target?.project ?? params.project,
    name: req.target?.name ?? params.name ?? (typeof bodyName === 'string' ? bodyName.slice(0, 253) : undefined),
    action: req.target?.action,
  };
  const p = req.principal;
  return {
    actor: p?.id ?? 'anonymous',
    ...(p ? { token: p.token, ...(p.tokenUid ? { tokenUid: p.tokenUid } : {}) } : {}),
    method: req.method,
    path: req.url.split('?')[0]!.slice(0, 512),
    action: target.action ?? ACTIONS[req.method] ?? req.method.toLowerCase(),
    ...(target.kind ? { kind: target.kind } : {}),
    ...(target.project ? { project: target.project } : {}),
    ...(target.name ? { name: target.name } : {}),
    status,
    ...(req.failure ? { code: req.failure.code, message: req.failure.message.slice(0, 512) } : {}),
    sourceIp: req.ip,
    requestId: req.id,
  };
}
