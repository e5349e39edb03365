/**
 * Following a stack after an apply: its services' rollouts live, and when the apply stopped before
 * a wave, what it waits for (each object's health, in model/stack/health.ts's words, the same the
 * server's apply checks) until all of it is healthy, then `onReady` once (the editor applies again).
 */
import { useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import { findKind, serviceKind } from '../../../src/model/kinds/index.js';
import { STACK_LABEL } from '../../../src/model/kinds/stack.js';
import { health } from '../../../src/model/stack/health.js';
import type { StackApplyResult } from '../../../src/model/stack/plan.js';
import type { KindOf, StoredObject } from '../../../src/model/kind.js';
import { Badge, Link } from '../ui/components.js';
import { objectPath, useLive } from './kit.js';
import { rolloutProgress } from './service-actions.js';
import { RolloutBar } from './services.js';

type Waiting = NonNullable<StackApplyResult['waiting']>;
type Waited = Waiting['for'][number];

const keyOf = (w: Waited) => `${w.kind}/${w.project ?? ''}/${w.name}`;

/** What the next wave waits for, live; calls `onReady` once when every one of them is healthy (mount it anew for each apply). */
export function WaitingFor(props: { waiting: Waiting; project: string; onReady: () => void }) {
  const healthy = useSignal<Record<string, boolean>>({});
  const fired = useRef(false);
  const all = props.waiting.for.every((w) => healthy.value[keyOf(w)]);
  useEffect(() => {
    if (!all || fired.current) return undefined;
    // A moment later: the server reads the same health from the store the watch came from.
    const t = setTimeout(() => { fired.current = true; props.onReady(); }, 500);
    return () => clearTimeout(t);
  }, [all]);
  const report = (k: string, ok: boolean) => { if (healthy.value[k] !== ok) healthy.value = { ...healthy.value, [k]: ok }; };
  return (
    <div role="group" aria-label="Waiting for">
      <p>The rest is applied once these are healthy:</p>
      <ul>{props.waiting.for.map((w) => <WaitedItem key={keyOf(w)} waited={w} project={props.project} onHealth={(ok) => report(keyOf(w), ok)} />)}</ul>
    </div>
  );
}

function WaitedItem(props: { waited: Waited; project: string; onHealth: (ok: boolean) => void }) {
  const w = props.waited;
  const kind = (findKind(w.kind) ?? serviceKind) as KindOf<StoredObject>;
  const { items } = useLive(kind, w.project ?? props.project);
  const h = health(w.kind, items.find((o) => o.metadata.name === w.name));
  useEffect(() => props.onHealth(h.state === 'healthy'), [h.state]);
  return <li>{w.kind}/{w.name}: <Badge value={h.state} /> {h.text}</li>;
}

/** The stack's services, live: each one's rollout as a bar, linked to its page. `complete`: the apply wrote everything. */
export function StackProgress(props: { project: string; stack: string; complete?: boolean }) {
  const { items } = useLive(serviceKind, props.project, `${STACK_LABEL}=${props.stack}`);
  if (items.length === 0) return null;
  const available = items.every((s) => !rolloutProgress(s).rolling && s.status?.phase === 'Available');
  const text = !available ? 'Rolling out…' : props.complete === false ? 'Its services so far are available.' : 'Every service is available.';
  return (
    <div aria-label={`Progress of stack ${props.stack}`} role="group">
      <p role="status">{text}</p>
      <ul class="progress-list">
        {items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)).map((s) => (
          <li key={s.metadata.name}>
            <Link to={objectPath(serviceKind, s)}>{s.metadata.name}</Link> <Badge value={s.status?.phase ?? 'Progressing'} /> <span>{s.status?.ready ?? 0}/{rolloutProgress(s).desired} ready</span>
            <RolloutBar svc={s} />
          </li>
        ))}
      </ul>
    </div>
  );
}
