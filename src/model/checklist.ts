/**
 * The parts of a kind's description beyond its schema: who may read it, what it refers to and
 * owns, which admission checks its writes pass, how `describe` shows it, how stack files name it,
 * what it takes from its project's quotas. `defineKind` (kind.ts) takes them; the generic code
 * reads them instead of naming kinds:
 *
 *   access      policy/auth.ts (canSee, hidden), policy/node-authorizer.ts, policy/node-scope.ts
 *   references  policy/node-scope.ts (what a node may read), the generic in-use admission check
 *   lifecycle   the cascade order of a project's delete, what keeps a project from being deleted
 *   admission   policy/admission-checks.ts binds each name to its implementation
 *   describe    cli/describe.ts
 *   stack       model/stack/sections.ts (the compact sections of stack files), file.ts (the first wave)
 *   quota       policy/quota.ts, describe project
 *
 * Everything here is data or pure functions: the model imports no other layer.
 */
import type { StoredObject } from './kind.js';

/**
 * Who sees an object, besides cluster admins (policy/auth.ts `canSee` implements each):
 *   project-members  members of the object's project (default of project kinds)
 *   its-members      members of the project the object is (projects)
 *   self             the user the object is (users)
 *   token-holders    the token itself, and those who manage it (tokens)
 *   everyone         anyone authenticated (default of cluster kinds)
 *   cluster-admins   nobody else (node pools: a provider's argv and env may hold credentials)
 */
export type Visibility = 'project-members' | 'its-members' | 'self' | 'token-holders' | 'everyone' | 'cluster-admins';

/**
 * What a node's credential may read of a kind, and whose status it may write (the node
 * authorizer, policy/node-authorizer.ts). A kind without `node` is refused to nodes. An empty
 * `{}`: nodes may list and watch it and see none of it there (secrets: the values of their
 * instances come through a route of their own).
 */
export interface NodeAccess {
  /** Its own object (the node kind). */
  own?: boolean;
  /** Objects bound to a node are the node's, whole: to which node this one is bound, if any. */
  boundTo?: (obj: StoredObject) => string | undefined;
  /** In the projects the node hosts (an instance of the project is bound to it): whole, or what this keeps. */
  hosted?: 'whole' | ((obj: StoredObject) => StoredObject);
  /** Objects that an instance bound to the node refers to (its `references`), whole. */
  referenced?: boolean;
  /** Whose status the node writes: its own object's, or those bound to it (which it keeps or releases, never hands on). */
  writesStatus?: 'own' | 'bound';
}

export interface Access {
  /** Default: project-members for project kinds, everyone for cluster kinds. */
  visibleTo?: Visibility;
  /** Answer 404 alike whether an object is missing or the caller may not see it (no enumeration). */
  hidden?: boolean;
  node?: NodeAccess;
}

/** An object another one names: an instance's image, secrets, network, volumes. */
export interface ObjectRef {
  kind: string;
  project: string;
  name: string;
  /** Where the referring object names it, e.g. spec.volumes[0].volume. */
  field: string;
  /** The `refs-exist` admission check refuses a write whose reference names nothing (volumes). */
  mustExist?: boolean;
}

/** A spec that runs as instances: an instance's own, a service's template. */
export interface Workload {
  /** Its path in the object: "spec", "spec.template.spec". */
  at: string;
  spec: unknown;
}

export interface Lifecycle {
  /**
   * Kinds whose objects this kind's objects make and own (metadata.owner, or a label): a service
   * its instances. A project's cascade deletes owners first, so that nothing is made again.
   */
  owns?: string[];
  /** Its objects come and go with everything else (events): they never keep a project from going. */
  transient?: boolean;
  /** The platform makes some for every project, owned by it (a network: "default"): they go with the project. */
  madeForProjects?: boolean;
  /**
   * Whether an object still takes its share and holds what it refers to; default: while it exists.
   * A finished instance (Succeeded, Failed...) never runs again: it counts for no quota and holds
   * no image or volume.
   */
  active?: (obj: StoredObject) => boolean;
}

/**
 * Admission checks a kind's writes pass, by name; policy/admission-checks.ts implements them.
 *   quota               creates fit the project's quotas (the kind's `quota`)
 *   reserved-env        no STRATUS_* environment variables in its workloads
 *   published-ports     host ports from the published range or the project's allowance
 *   unisolated          isolation: none only where a cluster admin allowed it
 *   secret-refs         the secrets its workloads use exist in the project
 *   refs-exist          the references marked mustExist name objects of the project (not on dry runs:
 *                       a stack applies what they name in an earlier wave)
 *   not-in-use          refused to delete while objects of other kinds refer to it (their `references`)
 *   network-not-in-use, image-not-in-use, secret-not-in-use   the same, with each kind's own rules
 *   image-fits          the images its workloads run are of the type their driver needs, and fit a vm's disk
 *   drain-before-delete a node with instances is deleted only drained or forced
 *   last-cluster-admin  the last enabled cluster-admin user stays
 *   price-list-dates    price lists start at distinct hours and share one currency
 *   budget              creates are refused while an enforced budget of the project is spent (policy/budget-admission.ts)
 *   volume-free         the volumes an instance names are not used by another active instance (policy/volume-admission.ts)
 */
export type AdmissionCheck =
  | 'quota' | 'reserved-env' | 'published-ports' | 'unisolated' | 'secret-refs' | 'refs-exist' | 'not-in-use'
  | 'network-not-in-use' | 'image-not-in-use' | 'secret-not-in-use' | 'drain-before-delete' | 'last-cluster-admin'
  | 'price-list-dates' | 'budget' | 'image-fits' | 'volume-free';

/** A line of `stratus describe` (cli/describe.ts renders them). */
export type DescribeLine =
  /** "Phase:        Running": a label and its value, aligned. */
  | { field: string; value: string }
  /** A line as it is (indent it yourself). */
  | { text: string }
  /** A titled table, indented under its title. */
  | { title: string; headers: string[]; rows: string[][] };

export interface StackEntry {
  /** The section of a compact stack file that maps names to objects of the kind: `services:`. */
  section: string;
  /** Compact entries write the template's spec under `template` (services). */
  template?: boolean;
  /** Applied first, in a wave of their own when they depend on nothing: what others are admitted against (secrets, volumes). */
  first?: boolean;
}

/** Names of the project quotas (project spec.quotas): see QUOTAS in kinds/project.ts. */
export type QuotaName = 'cpu' | 'memory' | 'disk' | 'gpu' | 'instances' | 'volumes' | 'storage';

export interface QuotaUse {
  /** What one object takes, by quota (canonical units: millicores, MiB, thousandths of a GPU, counts), while it is active (`lifecycle.active`). */
  usage: (obj: StoredObject) => Partial<Record<QuotaName, number>>;
}
