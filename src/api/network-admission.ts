/**
 * Admission for networks: a network is deleted only once no instance of its project uses it
 * (an instance keeps its network, and its address in it, for its whole life). A cascade delete
 * of the project removes instances first and does not pass through admission.
 */
import type { AdmissionPlugin } from './admission.js';
import { StratusError } from '../model/errors.js';
import { instanceKind, networkKind } from '../model/kinds/index.js';
import { instanceNetwork } from '../model/kinds/network.js';
import type { Instance } from '../model/kinds/instance.js';

/** How many users of a network the refusal names before "and N more". */
const NAMED = 5;

export const networkNotInUse: AdmissionPlugin = async (req, repo) => {
  if (req.op !== 'delete' || req.kind !== networkKind || !req.project) return;
  const { items } = await repo.list<Instance>(instanceKind, {
    project: req.project,
    filter: (o) => instanceNetwork((o as Instance).spec) === req.name,
  });
  if (items.length === 0) return;
  const names = items.slice(0, NAMED).map((i) => i.metadata.name).join(', ');
  const more = items.length > NAMED ? ` and ${items.length - NAMED} more` : '';
  throw new StratusError(
    'STRATUS_ERR_DEPENDENCY',
    `network "${req.name}" of project "${req.project}" is used by ${items.length} instance${items.length === 1 ? '' : 's'} (${names}${more}); delete them first`,
    { kind: 'network', name: req.name, project: req.project, instances: items.length },
  );
};
