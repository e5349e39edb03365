/**
 * Power actions on an instance (members and admins: `update` on the instance):
 *
 *   POST /v1/projects/:project/instances/:name/stop     Running (or about to) → Off: its agent stops it
 *                                                       (a VM: ACPI shutdown, then a hard stop after
 *                                                       spec.gracePeriod); it stays bound to its node,
 *                                                       holding its resources, address and disks
 *   POST /v1/projects/:project/instances/:name/start    Off → Scheduled on the same node: runs again
 *   POST /v1/projects/:project/instances/:name/reboot   a running VM: ACPI reset through its agent
 *
 * stop and start are status writes (the lifecycle in model/lifecycle.ts), audited in the same
 * transaction; a service's replicas are refused stop (the service would replace them: scale it).
 * reboot is a signed POST to the agent of the instance's node (node/agent/logs-server.ts).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiDeps } from '../server.js';
import { DnsLabel, Strict } from '../../model/schema.js';
import { StratusError, invalid } from '../../model/errors.js';
import { instanceKind } from '../../model/kinds/index.js';
import type { Instance, InstanceStatus } from '../../model/kinds/instance.js';
import { STOP_REQUESTED } from '../../model/lifecycle.js';
import { setCondition } from '../../model/conditions.js';
import { isoNow } from '../../model/runtime.js';
import { requestAudit } from '../request-audit.js';
import { agentError, agentOf } from '../agent-link.js';

const Params = Type.Object({ project: DnsLabel(), name: DnsLabel() }, Strict);
const RUNNING: ReadonlySet<string> = new Set(['Scheduled', 'Starting', 'Running']);

type Transition = (inst: Instance, now: string) => InstanceStatus;

export async function instancePowerRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  const route = (action: 'stop' | 'start' | 'reboot', summary: string, handler: (req: FastifyRequest, inst: Instance) => Promise<Instance>) => {
    app.post(`/v1/projects/:project/instances/:name/${action}`, {
      schema: { tags: ['Instance'], summary, params: Params },
      config: { permission: { kind: instanceKind, verb: 'update' } },
    }, async (req) => {
      const { project, name } = req.params as { project: string; name: string };
      if (req.principal!.node) throw new StratusError('STRATUS_ERR_FORBIDDEN', `${req.principal!.id} may not ${action} instances: node credentials never do`);
      req.target = { kind: 'instance', project, name, action };
      return handler(req, await deps.repo.get<Instance>(instanceKind, name, project));
    });
  };
  const transition = (to: Transition) => async (req: FastifyRequest, inst: Instance) => {
    const status = to(inst, isoNow(deps.clock));
    const { op } = deps.audit.op(requestAudit(req, 200));
    const stored = await deps.repo.setStatus<Instance>(instanceKind, inst, status, { extraOps: [op] });
    req.audited = true;
    return stored;
  };
  route('stop', 'Stop an instance, keeping it on its node (a VM: ACPI shutdown first)', transition(stopped));
  route('start', 'Run a stopped instance again, on the same node', transition(started));
  route('reboot', 'Reboot a running VM (ACPI reset)', async (req, inst) => {
    if (inst.spec.driver !== 'vm') invalid('spec.driver', `reboot restarts a virtual machine's guest; "${inst.metadata.name}" is a ${inst.spec.driver} instance (stop and start it instead)`, inst.spec.driver);
    if (inst.status?.phase !== 'Running') throw notRunning(inst, 'reboot');
    const agent = await agentOf(deps, inst.metadata.project!, inst.metadata.name, 'no reboot');
    const path = `/v1/reboot/${encodeURIComponent(inst.metadata.project!)}/${encodeURIComponent(inst.metadata.name)}?uid=${encodeURIComponent(inst.metadata.uid)}`;
    let res: Response;
    try {
      res = await fetch(agent.address + path, { method: 'POST', headers: agent.sign('POST', path) });
    } catch (e) {
      throw new StratusError('STRATUS_ERR_UNAVAILABLE', `cannot reach the agent of node "${agent.node}" at ${agent.address}: ${(e as { cause?: Error }).cause?.message ?? (e as Error).message}`);
    }
    if (!res.ok) throw agentError(agent.node, res.status, await res.text());
    await deps.audit.record({ ...requestAudit(req, 200), message: 'ACPI reset' }).catch((err: unknown) => req.log.error({ err }, 'could not write the audit record'));
    req.audited = true;
    return inst;
  });
}

/** Running (or starting) → Off, reason StopRequested; the agent stops it and says Stopped. */
export const stopped: Transition = (inst, now) => {
  const s = inst.status ?? { phase: 'Pending' as const };
  const service = inst.metadata.owner?.kind === 'service' ? inst.metadata.owner.name : undefined;
  if (service) throw new StratusError('STRATUS_ERR_INVALID_STATE', `instance "${inst.metadata.name}" is a replica of service "${service}", which would replace it; scale the service instead (stratus service scale ${service} N)`);
  if (s.phase === 'Off') throw new StratusError('STRATUS_ERR_INVALID_STATE', `instance "${inst.metadata.name}" is stopped already (phase Off); stratus instance start ${inst.metadata.name} runs it again`);
  if (!RUNNING.has(s.phase) || !s.node) throw notRunning(inst, 'stop');
  const grace = inst.spec.gracePeriod ?? 10;
  const how = inst.spec.driver === 'vm' ? `ACPI shutdown, then a hard stop after ${grace} s` : `SIGTERM, then SIGKILL after ${grace} s`;
  const message = `stopping on node ${s.node} (${how})`;
  return { ...s, phase: 'Off', reason: STOP_REQUESTED, message, conditions: setCondition(s.conditions, { type: 'Ready', status: 'False', reason: 'Stopped', message }, now) };
};

/** Off → Scheduled on the same node (it still holds its resources there); the agent starts it. */
export const started: Transition = (inst) => {
  const s = inst.status ?? { phase: 'Pending' as const };
  if (s.phase !== 'Off' || !s.node) {
    throw new StratusError('STRATUS_ERR_INVALID_STATE', `instance "${inst.metadata.name}" is ${s.phase}, not stopped (phase Off): only an instance stopped with stratus instance stop can be started`);
  }
  return { ...s, phase: 'Scheduled', reason: 'StartRequested', message: `starting again on node ${s.node}` };
};

function notRunning(inst: Instance, action: string): StratusError {
  return new StratusError('STRATUS_ERR_NOT_RUNNING', `instance "${inst.metadata.name}" is ${inst.status?.phase ?? 'Pending'}, not running: nothing to ${action}`);
}
