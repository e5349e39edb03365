/**
 * Admission for images: an image is deleted only once no instance or service uses it (as networks:
 * network-admission.ts); a workload runs an image of the type its driver needs (imageFits). `spec.image` names an image of the instance's own project ("web") or a
 * shared one of the system project ("system/busybox"), so a shared image's users may be anywhere.
 * Finished instances (Succeeded, Failed, ...) never start again and do not hold it.
 */
import type { AdmissionPlugin } from './admission.js';
import { refuseWhileUsed } from './in-use.js';
import { imageKind, instanceKind, serviceKind } from '../model/kinds/index.js';
import type { Instance, InstanceSpec } from '../model/kinds/instance.js';
import { imageRefOf, imageType, rootDiskProblem, SHARED_IMAGE_PROJECT, type Image } from '../model/kinds/image.js';
import { ValidationError, type FieldProblem } from '../model/errors.js';
import { formatMebibytes } from '../model/quantity.js';

const MIB = 1024 * 1024;
import type { Service } from '../model/kinds/service.js';
import { FINISHED } from '../model/lifecycle.js';
import { STACK_LABEL } from '../model/kinds/stack.js';
import type { StoredObject } from '../model/kind.js';

/** Whether `spec`, in `project`, runs the image `name` of `imageProject`. */
export function usesImage(spec: Pick<InstanceSpec, 'driver' | 'image'>, project: string, imageProject: string, name: string): boolean {
  if (spec.driver === 'process' || !spec.image) return false;
  const ref = imageRefOf(spec.image, project);
  return ref.project === imageProject && ref.name === name;
}

/**
 * The image a workload runs fits it: it is the project's own or a shared one (never another
 * project's: not even whether it exists is told), a vm boots a disk image, a container runs a root
 * filesystem, and a vm's `resources.disk` (its root disk) holds the image's virtual size. An image
 * that does not exist yet is not judged here (a stack may create it in a later wave; the node says so).
 */
export const imageFits: AdmissionPlugin = async (req, repo) => {
  if (req.op === 'delete' || !req.project || !req.object || !req.kind.workloads) return;
  const problems: FieldProblem[] = [];
  for (const w of req.kind.workloads(req.object.spec)) {
    const spec = w.spec as InstanceSpec;
    if (spec.driver === 'process' || !spec.image) continue;
    const ref = imageRefOf(spec.image, req.project);
    if (ref.project !== req.project && ref.project !== SHARED_IMAGE_PROJECT) {
      problems.push({ path: `${w.at}.image`, message: `"${spec.image}" names an image of project "${ref.project}"; use an image of project "${req.project}" or a shared one ("${SHARED_IMAGE_PROJECT}/NAME")`, value: spec.image });
      continue;
    }
    const image = await repo.find<Image>(imageKind, ref.name, ref.project);
    if (image) problems.push(...imageFitProblems(spec, image, w.at));
  }
  if (problems.length > 0) throw new ValidationError(problems);
};

/** Why `image` cannot be what `spec` (at `at`) runs; none when it can. */
export function imageFitProblems(spec: Pick<InstanceSpec, 'driver' | 'image' | 'resources'>, image: Image, at: string): FieldProblem[] {
  const want = spec.driver === 'vm' ? 'disk' : 'rootfs';
  const type = imageType(image);
  if (type !== want) {
    const hint = want === 'disk' ? 'import a bootable disk (stratus image import NAME DISK.qcow2 --type disk)' : 'import a root filesystem (stratus image import NAME DIR|TAR)';
    return [{ path: `${at}.image`, message: `image "${spec.image}" is a ${type} image; the ${spec.driver} driver needs a ${want} image: ${hint}`, value: spec.image }];
  }
  const size = image.status?.virtualSize;
  const disk = spec.resources?.disk ?? 0;
  if (spec.driver !== 'vm' || size === undefined || disk * MIB >= size) return [];
  return [{ path: `${at}.resources.disk`, message: rootDiskProblem(disk, String(spec.image), size), value: formatMebibytes(disk) }];
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
