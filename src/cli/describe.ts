/** `stratus describe`: one object for people, with why it is in the state it is in. */
import { yaml } from './yaml.js';
import { deletionOf, type Kind, type StoredObject } from '../model/kind.js';
import { findKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Node } from '../model/kinds/node.js';
import type { Project } from '../model/kinds/project.js';
import type { StratusEvent } from '../model/kinds/event.js';
import { age, plural } from '../model/format.js';
import { formatCpu, formatMebibytes } from '../model/quantity.js';
import { table } from './output.js';
import { objectForPeople } from '../model/quantity-fields.js';

export function describeObject(kind: Kind, obj: StoredObject, events: StoredObject[]): string {
  const m = obj.metadata;
  const out: string[] = [];
  const field = (k: string, v: string | undefined) => {
    if (v !== undefined && v !== '') out.push(`${(k + ':').padEnd(14)}${v}`);
  };
  field('Name', m.name);
  field('Kind', kind.kind);
  field('Project', m.project);
  field('Labels', Object.entries(m.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || '<none>');
  field('Annotations', Object.entries(m.annotations ?? {}).map(([k, v]) => `${k}=${v}`).join(', '));
  field('Created', `${m.createdAt} (${age(m.createdAt)} ago)${m.createdBy ? ` by ${m.createdBy}` : ''}`);
  field('Revision', `${m.revision} (generation ${m.generation})`);
  field('Owner', m.owner ? `${m.owner.kind}/${m.owner.name}` : undefined);
  out.push(...deletionLines(obj));
  if (kind.kind === 'instance') out.push(...instanceStatus(obj as Instance));
  else if (kind.kind === 'node') out.push(...nodeStatus(obj as Node));
  else if (kind.kind === 'project') out.push(...projectStatus(obj as Project));
  const shown = objectForPeople(kind, obj);
  out.push('Spec:', indent(yaml().stringify(shown.spec).trimEnd()));
  if (obj.status && !OWN_STATUS.has(kind.kind)) out.push('Status:', indent(yaml().stringify(shown.status).trimEnd()));
  out.push('Events:');
  if (events.length === 0) out.push('  <none>');
  else {
    const rows = (events as StratusEvent[])
      .sort((a, b) => (a.spec.lastTime ?? a.metadata.createdAt).localeCompare(b.spec.lastTime ?? b.metadata.createdAt))
      .slice(-20)
      .map((e) => [age(e.spec.lastTime ?? e.metadata.createdAt), e.spec.type, e.spec.reason, e.spec.count && e.spec.count > 1 ? `(x${e.spec.count}) ${e.spec.message}` : e.spec.message]);
    out.push(indent(table(['AGE', 'TYPE', 'REASON', 'MESSAGE'], rows)));
  }
  return out.join('\n');
}

function instanceStatus(i: Instance): string[] {
  const s = i.status;
  if (!s) return [];
  const out = [`${'Phase:'.padEnd(14)}${s.phase}${s.reason ? ` (${s.reason})` : ''}`];
  if (s.message) out.push(`${'Message:'.padEnd(14)}${s.message}`);
  if (s.node) out.push(`${'Node:'.padEnd(14)}${s.node}${s.score !== undefined ? ` (score ${s.score})` : ''}`);
  if (s.explanation && !s.node && s.explanation.nodes > 0) {
    out.push(`${'Why pending:'.padEnd(14)}${plural(s.explanation.nodes, 'node')} considered at ${s.explanation.at}`);
    for (const r of s.explanation.reasons) out.push(`  ${String(r.count).padStart(6)}  ${r.reason}`);
  }
  if (s.allocation?.gpus?.length) out.push(`${'GPUs:'.padEnd(14)}${s.allocation.gpus.map((g) => `#${g.index}${g.milli < 1000 ? ` (${g.milli / 10}%)` : ''}`).join(', ')}`);
  if (s.pid) out.push(`${'PID:'.padEnd(14)}${s.pid}`);
  if (s.ip) out.push(`${'IP:'.padEnd(14)}${s.ip}`);
  if (s.startedAt) out.push(`${'Started:'.padEnd(14)}${s.startedAt}`);
  if (s.exitCode !== undefined) out.push(`${'Exit code:'.padEnd(14)}${s.exitCode}${s.signal ? ` (${s.signal})` : ''}`);
  out.push(`${'Restarts:'.padEnd(14)}${s.restarts ?? 0}`);
  // Ready says what the last health check found (HealthCheckFailed: "GET http://...: connection refused").
  for (const c of s.conditions ?? []) out.push(`${`${c.type}:`.padEnd(14)}${c.status}${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}`);
  if (s.usage) out.push(`${'Usage:'.padEnd(14)}cpu ${formatCpu(s.usage.cpu)}, memory ${formatMebibytes(s.usage.memory)}${gpuUsage(s.usage)} (at ${s.usage.at})`);
  return out;
}

/** Kinds whose status describe shows in its own words rather than as YAML. */
const OWN_STATUS = new Set(['instance', 'node', 'project']);

/** Phase, and each quota as `used / limit` (as `openstack quota show --usage`). */
function projectStatus(p: Project): string[] {
  const out = [`${'Phase:'.padEnd(14)}${p.status?.phase ?? 'Active'}`];
  const used = p.status?.usage ?? { cpu: 0, memory: 0, disk: 0, gpu: 0, instances: 0 };
  const q = p.spec.quotas ?? {};
  const show: Record<keyof typeof used, (n: number) => string> = { cpu: formatCpu, memory: formatMebibytes, disk: formatMebibytes, gpu: (n) => formatCpu(n), instances: String };
  const rows = (Object.keys(show) as (keyof typeof used)[]).map((k) => [k, `${show[k](used[k])} / ${q[k] === undefined ? 'unlimited' : show[k](q[k]!)}`]);
  out.push('Quota usage:', indent(table(['RESOURCE', 'USED / LIMIT'], rows)));
  return out;
}

function gpuUsage(u: NonNullable<Instance['status']>['usage']): string {
  if (u?.gpuMemory === undefined) return '';
  return `, gpu memory ${formatMebibytes(u.gpuMemory)}${u.gpuUtilization !== undefined ? `, gpu ${u.gpuUtilization}%` : ''}`;
}

function nodeStatus(n: Node): string[] {
  const s = n.status;
  const out = [`${'Status:'.padEnd(14)}${s?.phase ?? 'Unknown'}${n.spec.unschedulable ? ', cordoned' : ''}${n.spec.draining ? ', draining' : ''}`];
  if (s?.message) out.push(`${'Message:'.padEnd(14)}${s.message}`);
  if (n.spec.zone) out.push(`${'Zone:'.padEnd(14)}${n.spec.zone}`);
  if (s?.lastHeartbeat) out.push(`${'Heartbeat:'.padEnd(14)}${s.lastHeartbeat} (${age(s.lastHeartbeat)} ago)`);
  if (s?.limitsEnforced === false) out.push(`${'Limits:'.padEnd(14)}NOT ENFORCED (no usable cgroups or not root): instances can use more than they reserve`);
  const res = (r: Node['status'] extends infer T ? T extends { capacity?: infer C } ? C : never : never) =>
    r ? `cpu ${formatCpu(r.cpu)}, memory ${formatMebibytes(r.memory)}, disk ${formatMebibytes(r.disk)}${r.gpus.length ? `, gpus ${r.gpus.map((g) => `#${g.index} ${g.model}`).join(', ')}` : ''}` : '';
  if (s?.capacity) out.push(`${'Capacity:'.padEnd(14)}${res(s.capacity)}`);
  if (s?.allocatable) out.push(`${'Allocatable:'.padEnd(14)}${res(s.allocatable)}`);
  const gpuShares = s?.conditions?.find((c) => c.type === 'GpuShares');
  if (gpuShares?.message) out.push(`${'GPU shares:'.padEnd(14)}${gpuShares.message}`);
  if (s?.drivers?.length) {
    out.push(`${'Drivers:'.padEnd(14)}${s.drivers.map((d) => `${d.name}${d.healthy ? '' : ' (unavailable)'}`).join(', ')}`);
    // What each driver enforces here (sandbox, user namespaces, limits) or why it cannot run.
    for (const d of s.drivers) for (const note of (d.message ?? '').split('; ').filter(Boolean)) out.push(`  ${d.name}: ${note}`);
  }
  for (const c of s?.conditions ?? []) out.push(`  ${c.type}=${c.status}${c.reason ? ` ${c.reason}` : ''}${c.message ? `: ${c.message}` : ''}`);
  return out;
}

/** While the object is being deleted (status.deletion): since when, and what it still waits for. */
export function deletionLines(obj: StoredObject): string[] {
  const d = deletionOf(obj);
  if (!d) return [];
  const out = [`${'Deleting:'.padEnd(14)}since ${d.startedAt} (${age(d.startedAt)} ago)`];
  const left = d.waitingFor.filter((w) => w.count > 0);
  if (left.length === 0) out.push('  waiting for nothing: the object itself goes next');
  for (const w of left) {
    const more = (w.names?.length ?? 0) < w.count ? ', ...' : '';
    out.push(`  waiting for ${plural(w.count, w.kind, findKind(w.kind)?.plural)}${w.names?.length ? ` (${w.names.join(', ')}${more})` : ''}`);
  }
  if (d.message) out.push(`  ${d.message}`);
  return out;
}

function indent(text: string): string {
  return text.split('\n').map((l) => `  ${l}`).join('\n');
}
