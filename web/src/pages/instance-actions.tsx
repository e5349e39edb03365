/**
 * What a member may do to an instance: Stop (a running one that no service owns: the service
 * would replace it), Start (a stopped one, phase Off), Reboot (a running VM), Delete. Stop,
 * Reboot and Delete ask first. The routes: POST .../stop|start|reboot (api/routes/instance-power.ts)
 * and DELETE.
 */
import { useState } from 'preact/hooks';
import { session } from '../app/session.js';
import { navigate } from '../app/router.js';
import { instanceKind } from '../../../src/model/kinds/index.js';
import type { Instance } from '../../../src/model/kinds/instance.js';
import { paths } from '../api/client.js';
import { Confirm, ErrorBox } from '../ui/components.js';
import { actionsFor, type Action } from './common.js';

const QUESTIONS: Record<Exclude<Action, 'Start'>, (i: Instance) => string> = {
  Stop: (i) => `Its workload stops${i.spec.driver === 'vm' ? ' (ACPI shutdown, then a hard stop after its grace period)' : ''}; it keeps its node, address and disks until started again.`,
  Reboot: () => 'The VM is reset (ACPI) and boots again.',
  Delete: (i) => (i.metadata.owner ? `It belongs to ${i.metadata.owner.kind} ${i.metadata.owner.name}, which may start a replacement.` : 'Its workload stops and the instance is removed.'),
};

export function InstanceActions(props: { instance: Instance }) {
  const i = props.instance;
  const { name, project } = i.metadata as { name: string; project: string };
  const [asking, setAsking] = useState<Exclude<Action, 'Start'> | undefined>();
  const [error, setError] = useState<string | undefined>();
  const api = session.api.value!;
  const run = async (action: Action) => {
    setAsking(undefined);
    setError(undefined);
    try {
      if (action === 'Delete') {
        await api.resources(instanceKind, project).delete(name);
        navigate('/instances');
      } else {
        await api.request('POST', paths.instance(project, name, action.toLowerCase() as 'stop' | 'start' | 'reboot'));
      }
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <div>
      <div class="actions">
        {actionsFor(i).map((a) => (
          <button key={a} type="button" class={a === 'Delete' ? 'danger' : undefined} onClick={() => (a === 'Start' ? run(a) : setAsking(a))}>{a}</button>
        ))}
      </div>
      <ErrorBox message={error} />
      <Confirm open={asking !== undefined} title={`${asking ?? ''} instance ${name}?`} question={asking ? QUESTIONS[asking](i) : ''} action={asking ?? ''}
        onConfirm={() => asking && run(asking)} onCancel={() => setAsking(undefined)} />
    </div>
  );
}
