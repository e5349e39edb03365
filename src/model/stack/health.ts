/**
 * Whether an applied object is healthy yet: what a wave of a stack waits for before the next
 * (the server's apply), and what `stratus apply` follows to the end (rollouts).
 */
import type { StoredObject } from '../kind.js';
import { replicasOf, type Service } from '../kinds/service.js';
import type { Instance } from '../kinds/instance.js';

export interface Health {
  state: 'pending' | 'healthy' | 'failed';
  text: string;
  /** Progress of a rollout, 0..1. */
  fraction?: number;
}

/** `applied` is the spec the user asked for, to tell a rollback (which restores an older one). */
export function health(kind: string, obj: StoredObject | undefined, applied?: StoredObject): Health {
  if (!obj) return { state: 'pending', text: 'waiting for it to appear' };
  if (kind === 'service') return serviceHealth(obj as Service, applied as Service | undefined);
  if (kind === 'instance') return instanceHealth(obj as Instance);
  const phase = (obj.status as { phase?: string } | undefined)?.phase;
  if (kind === 'network' && phase !== 'Ready') return { state: phase === 'Failed' ? 'failed' : 'pending', text: phase ?? 'allocating' };
  return { state: 'healthy', text: 'ready' };
}

function serviceHealth(s: Service, applied: Service | undefined): Health {
  const st = s.status ?? {};
  const R = replicasOf(s);
  const fraction = R === 0 ? 1 : Math.min(1, (st.available ?? 0) / R);
  const failedRev = st.history?.filter((h) => h.state === 'failed').at(-1);
  if (applied && JSON.stringify(s.spec.template) !== JSON.stringify(applied.spec.template) && failedRev) {
    return { state: 'failed', text: `rolled back: revision ${failedRev.revision} ${failedRev.reason ?? 'failed'}` };
  }
  const settled = (st.observedGeneration ?? 0) >= s.metadata.generation;
  if (!settled) return { state: 'pending', text: 'waiting for the service controller', fraction: 0 };
  // No earlier version to go back to (or autoRollback off): the failure is the answer, as kubectl's progress deadline.
  const degraded = st.conditions?.find((c) => c.type === 'Degraded');
  if (degraded?.status === 'True' && degraded.reason === 'RolloutFailing') return { state: 'failed', text: `revision ${st.revision ?? '?'} failed: ${degraded.message ?? 'rollout failing'}` };
  if (st.phase === 'Available') return { state: 'healthy', text: `available: ${st.ready}/${R} ready (revision ${st.revision})`, fraction: 1 };
  return { state: 'pending', text: `revision ${st.revision ?? '?'}: ${st.available ?? 0}/${R} available${st.phase === 'Degraded' ? ` (${st.message})` : ''}`, fraction };
}

function instanceHealth(i: Instance): Health {
  const s = i.status;
  if (!s) return { state: 'pending', text: 'pending' };
  if (s.phase === 'Succeeded') return { state: 'healthy', text: 'completed' };
  if (s.phase === 'Failed' || s.phase === 'Lost') return { state: 'failed', text: `${s.phase}: ${s.message ?? s.reason ?? ''}` };
  const ready = s.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  if (s.phase === 'Running' && ready) return { state: 'healthy', text: `running on ${s.node}` };
  return { state: 'pending', text: `${s.phase}${s.message ? `: ${s.message}` : ''}` };
}
