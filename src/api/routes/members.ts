/**
 * Project membership, managed by project admins. A member's role lives on the user object
 * (user.spec.roles); these routes edit just that binding.
 *   GET    /v1/projects/:project/members
 *   PUT    /v1/projects/:project/members/:user   { "role": "member" }
 *   DELETE /v1/projects/:project/members/:user
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server.js';
import { DnsLabel, Role, Strict } from '../../model/schema.js';
import { StratusError } from '../../model/errors.js';
import { projectKind, userKind } from '../../model/kinds/index.js';
import type { User } from '../../model/kinds/user.js';
import { ROLE_RANK, roleIn, type Role as RoleName } from '../../policy/auth.js';
import { requestAudit } from '../request-audit.js';

const Member = Type.Object({ user: Type.String(), role: Role }, Strict);
const Params = Type.Object({ project: DnsLabel(), user: DnsLabel() }, Strict);

export async function memberRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  const tags = ['Project members'];
  app.get('/v1/projects/:project/members', {
    schema: { tags, summary: 'Members of a project and their roles', params: Type.Object({ project: DnsLabel() }, Strict), response: { 200: Type.Object({ items: Type.Array(Member) }) } },
    config: { permission: { role: 'viewer' } },
  }, async (req) => {
    const { project } = req.params as { project: string };
    await deps.repo.get(projectKind, project);
    const users = await deps.repo.list<User>(userKind);
    const items = users.items.flatMap((u) => (u.spec.roles ?? []).filter((r) => r.project === project).map((r) => ({ user: u.metadata.name, role: r.role })));
    return { items };
  });

  app.put('/v1/projects/:project/members/:user', {
    schema: { tags, summary: 'Give a user a role in the project', params: Params, body: Type.Object({ role: Role }, Strict), response: { 200: Member } },
    config: { permission: { role: 'admin' } },
  }, async (req) => {
    const { project, user } = req.params as Static<typeof Params>;
    const { role } = req.body as { role: RoleName };
    req.target = { kind: 'user', name: user, project, action: 'member-set' };
    await deps.repo.get(projectKind, project);
    checkGrant(roleIn(req.principal!, project), role);
    await setRole(deps, req, user, project, role);
    return { user, role };
  });

  app.delete('/v1/projects/:project/members/:user', {
    schema: { tags, summary: 'Remove a user from the project', params: Params },
    config: { permission: { role: 'admin' } },
  }, async (req) => {
    const { project, user } = req.params as Static<typeof Params>;
    req.target = { kind: 'user', name: user, project, action: 'member-remove' };
    const found = await deps.repo.get<User>(userKind, user);
    if (!(found.spec.roles ?? []).some((r) => r.project === project)) {
      throw new StratusError('STRATUS_ERR_NOT_FOUND', `user "${user}" is not a member of project "${project}"`);
    }
    await setRole(deps, req, user, project, undefined);
    return { user, removed: true };
  });
}

function checkGrant(mine: RoleName | undefined, wanted: RoleName): void {
  if (!mine || ROLE_RANK[mine] < ROLE_RANK[wanted]) throw new StratusError('STRATUS_ERR_FORBIDDEN', `you cannot grant ${wanted} (you are ${mine ?? 'not a member'})`);
}

async function setRole(deps: ApiDeps, req: Parameters<typeof requestAudit>[0], user: string, project: string, role: RoleName | undefined): Promise<void> {
  const prev = await deps.repo.get<User>(userKind, user);
  const roles = (prev.spec.roles ?? []).filter((r) => r.project !== project);
  if (role) roles.push({ project, role });
  const { op } = deps.audit.op(requestAudit(req, 200));
  await deps.repo.replace(userKind, prev, { metadata: { name: user, labels: prev.metadata.labels, annotations: prev.metadata.annotations }, spec: { ...prev.spec, roles } }, { extraOps: [op] });
  req.audited = true;
}
