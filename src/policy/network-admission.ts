/**
 * Admission for networks: a network is deleted only once no instance or service of its project
 * uses it (an instance keeps its network, and its address in it, for its whole life; a service
 * keeps its address in it). A cascade delete of the project removes those first.
 */
import type { AdmissionPlugin } from './admission.js';
import { refuseWhileUsed } from './in-use.js';
import { instanceKind, networkKind, serviceKind } from '../model/kinds/index.js';
import { instanceNetwork } from '../model/kinds/network.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Service } from '../model/kinds/service.js';

export const networkNotInUse: AdmissionPlugin = async (req, repo) => {
  if (req.op !== 'delete' || req.kind !== networkKind || !req.project) return;
  const instances = (await repo.list<Instance>(instanceKind, { project: req.project, filter: (o) => instanceNetwork((o as Instance).spec) === req.name })).items;
  const services = (await repo.list<Service>(serviceKind, { project: req.project, filter: (o) => instanceNetwork((o as Service).spec.template.spec) === req.name })).items;
  const users = [...services.map((s) => `service ${s.metadata.name}`), ...instances.map((i) => `instance ${i.metadata.name}`)];
  refuseWhileUsed({ kind: 'network', name: req.name, project: req.project }, users, { instances: instances.length, services: services.length });
};
