/**
 * Admission for images: an image is deleted only once no instance or service uses it (as networks:
 * network-admission.ts). `spec.image` names an image of the instance's own project ("web") or a
 * shared one of the system project ("system/busybox"), so a shared image's users may be anywhere.
 * Finished instances (Succeeded, Failed, ...) never start again and do not hold it.
 */
import type { AdmissionPlugin } from './admission.js';
import { refuseWhileUsed } from './in-use.js';
import { imageKind, instanceKind, serviceKind } from '../model/kinds/index.js';
import type { Instance, InstanceSpec } from '../model/kinds/instance.js';
import type { Service } from '../model/kinds/service.js';
import { FINISHED } from '../model/lifecycle.js';
import { STACK_LABEL } from '../model/kinds/stack.js';
import type { StoredObject } from '../model/kind.js';

/** Whether `spec`, in `project`, runs the image `name` of `imageProject`. */
export function usesImage(spec: Pick<InstanceSpec, 'driver' | 'image'>, project: string, imageProject: string, name: string): boolean {
  if (spec.driver === 'process' || !spec.image) return false;
  const [p, n] = spec.image.includes('/') ? spec.image.split('/', 2) : [project, spec.image];
  return p === imageProject && n === name;
}

export const imageNotInUse: AdmissionPlugin = async (req, repo) => {
  if (req.op !== 'delete' || req.kind !== imageKind || !req.project) return;
  const image = { project: req.project, name: req.name };
  // A project's own image is used in that project only; a system image anywhere.
  const scope = req.project === 'system' ? {} : { project: req.project };
  const instances = (await repo.list<Instance>(instanceKind, { ...scope, filter: (o) => {
    const i = o as Instance;
    return !FINISHED.has(i.status?.phase ?? 'Pending') && usesImage(i.spec, i.metadata.project!, image.project, image.name);
  } })).items;
  const services = (await repo.list<Service>(serviceKind, { ...scope, filter: (o) => usesImage((o as Service).spec.template.spec, o.metadata.project!, image.project, image.name) })).items;
  const users = [...services.map((s) => describeUser('service', s, req.project!)), ...instances.map((i) => describeUser('instance', i, req.project!))];
  refuseWhileUsed({ kind: 'image', name: req.name, project: req.project }, users, { instances: instances.length, services: services.length });
};

/** "service web (stack shop)", "instance batch-1 of project team-b". */
function describeUser(kind: string, o: StoredObject, project: string): string {
  const stack = o.metadata.labels?.[STACK_LABEL];
  const where = o.metadata.project !== project ? ` of project ${o.metadata.project}` : '';
  return `${kind} ${o.metadata.name}${where}${stack ? ` (stack ${stack})` : ''}`;
}
