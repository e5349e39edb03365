/**
 * A kind is described once, here, and everything else is derived from that description:
 * the store keys, the HTTP routes, the OpenAPI document, the CLI's columns and names.
 * Adding a kind: write its file under kinds/, add it to kinds/index.ts. That's the checklist.
 */
import { Type, type Static, type TObject } from '@sinclair/typebox';
import { ValidationError, type FieldProblem } from './errors.js';
import { DnsLabel, LabelMap, Timestamp, Strict } from './schema.js';
import { dnsLabelProblem, labelKeyProblem, labelValueProblem } from './labels.js';
import { compileChecker, type Checker } from './validate.js';
import type { Access, AdmissionCheck, DescribeLine, Lifecycle, ObjectRef, QuotaUse, StackEntry, Visibility, Workload } from './checklist.js';

export type * from './checklist.js';

export type Scope = 'project' | 'cluster';

export const ObjectMetaSchema = Type.Object(
  {
    name: DnsLabel({ description: 'Unique within the project (or the cluster, for cluster kinds).' }),
    project: Type.Optional(DnsLabel({ description: 'Owning project; set from the URL.' })),
    labels: Type.Optional(LabelMap()),
    annotations: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'Free-form notes; not used for selection.' })),
    uid: Type.Optional(Type.String({ description: 'Read-only. Unique id of this incarnation of the object.' })),
    revision: Type.Optional(Type.Integer({ minimum: 0, description: 'Store revision of the last write. Send it back on update to refuse stale writes (409).' })),
    generation: Type.Optional(Type.Integer({ minimum: 0, description: 'Read-only. Increments when the spec changes.' })),
    createdAt: Type.Optional(Timestamp('Read-only. When the object was created.')),
    updatedAt: Type.Optional(Timestamp('Read-only. When the object was last written.')),
    createdBy: Type.Optional(Type.String({ description: 'Read-only. Who created the object.' })),
    owner: Type.Optional(Type.Object({ kind: Type.String(), name: Type.String() }, { ...Strict, description: 'Read-only. The object that manages this one (a service, a stack).' })),
  },
  Strict,
);

export type ObjectMeta = Static<typeof ObjectMetaSchema>;

/**
 * `status.deletion`, on every kind: what an object being deleted still waits for (a project: the
 * objects it still holds). The controller that deletes the object writes it, through the status
 * like any platform write; `stratus describe` shows it. Absent: the object is not being deleted.
 */
export const DeletionSchema = Type.Object(
  {
    startedAt: Timestamp('When the deletion started.'),
    waitingFor: Type.Array(
      Type.Object(
        {
          kind: Type.String({ description: 'Kind of the objects that must go first.' }),
          count: Type.Integer({ minimum: 0, description: 'How many are left.' }),
          names: Type.Optional(Type.Array(Type.String(), { maxItems: 20, description: 'Some of their names.' })),
        },
        Strict,
      ),
      { maxItems: 64, description: 'What the deletion waits for, by kind; empty when only the object itself is left.' },
    ),
    message: Type.Optional(Type.String({ maxLength: 4096, description: 'Why it is stuck, when it is (a refused delete of what it holds...).' })),
  },
  { ...Strict, description: 'Read-only. Present while the object is being deleted: what it still waits for.' },
);

export type Deletion = Static<typeof DeletionSchema>;

/** The deletion an object's status reports, if it is being deleted. */
export function deletionOf(obj: { status?: unknown }): Deletion | undefined {
  return (obj.status as { deletion?: Deletion } | undefined)?.deletion;
}

/** `status` with the `deletion` every kind's status carries (see DeletionSchema). */
function withDeletion<St extends TObject>(status: St): St {
  if ('deletion' in status.properties) return status;
  const { type: _type, properties, required: _required, ...options } = status;
  return Type.Object({ ...properties, deletion: Type.Optional(DeletionSchema) }, options) as unknown as St;
}

/** What the store holds and the API returns, for any kind. */
export interface StoredObject<Spec = unknown, Status = unknown> {
  kind: string;
  metadata: ObjectMeta & { uid: string; revision: number; generation: number; createdAt: string };
  spec: Spec;
  status?: Status;
}

export interface Column {
  header: string;
  get: (obj: StoredObject<never, never>) => string;
  /** Only shown with -o wide. */
  wide?: boolean;
}

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'delete';

export interface KindInput<S extends TObject, St extends TObject> {
  kind: string;
  plural: string;
  title: string;
  aliases?: string[];
  scope: Scope;
  description: string;
  spec: S;
  status: St;
  /** Verbs served by the generic routes; others get dedicated routes or none. Default: all. */
  verbs?: Verb[];
  /** Who may write the spec through the API: 'users' (by role) or only the platform. */
  writers?: 'users' | 'platform' | 'cluster-admins';
  /** Parses quantities, fills defaults, checks rules the schema can't express. Pure. */
  normalize?: (spec: Static<S>, problems: FieldProblem[]) => Static<S>;
  /** Like normalize, for status writes by the platform. */
  normalizeStatus?: (status: Static<St>, problems: FieldProblem[]) => Static<St>;
  /** Problems with changing `prev` into `next` (immutable fields). Pure. */
  checkUpdate?: (prev: Static<S>, next: Static<S>) => FieldProblem[];
  initialStatus?: (obj: StoredObject<Static<S>, Static<St>>) => Static<St> | undefined;
  columns: Column[];
  /** Who may read it: people (visibility, 404 for the unseen) and node credentials. */
  access?: Access;
  /** What an object names (an instance: its image, secrets, network, volumes). Pure. */
  references?: (obj: { metadata: { name: string; project?: string }; spec: unknown }) => ObjectRef[];
  /** The instance specs its spec holds (an instance: its spec; a service: its template's). */
  workloads?: (spec: unknown) => Workload[];
  /** What its objects own, and what goes with a project. */
  lifecycle?: Lifecycle;
  /** Admission checks its writes pass (policy/admission-checks.ts), in this order. */
  admission?: AdmissionCheck[];
  /** Its status in its own words for `stratus describe`, shown instead of the status as YAML. */
  describe?: (obj: StoredObject) => DescribeLine[];
  /** How compact stack files name it; absent: only as full objects (kind: ...). */
  stack?: StackEntry;
  /** What its objects take from their project's quotas. */
  quota?: QuotaUse;
}

export interface Kind<S extends TObject = TObject, St extends TObject = TObject> extends KindInput<S, St> {
  verbs: Verb[];
  writers: 'users' | 'platform' | 'cluster-admins';
  access: Access & { visibleTo: Visibility };
  admission: AdmissionCheck[];
  lifecycle: Lifecycle;
  /** The whole object as users send it (status optional; read-only metadata tolerated). */
  objectSchema: TObject;
  checkObject: Checker;
  checkSpec: Checker;
  checkStatus: Checker;
}

/**
 * A kind with the type of its stored objects attached (`kinds/index.ts` exports every kind so), for
 * the typed client: `api.resources(instanceKind, 'p').get('web')` is a `Promise<Instance>`. The
 * property is never set; a `KindOf<T>` is a `Kind` wherever one is expected.
 */
export type KindOf<T extends StoredObject = StoredObject> = Kind & { readonly __object?: T };

export function defineKind<S extends TObject, St extends TObject>(kindInput: KindInput<S, St>): Kind<S, St> {
  const input = { ...kindInput, status: withDeletion(kindInput.status) };
  const objectSchema = Type.Object(
    {
      kind: Type.Optional(Type.Literal(input.kind, { errorMessage: `must be "${input.kind}"` })),
      metadata: ObjectMetaSchema,
      spec: input.spec,
      status: Type.Optional(input.status),
    },
    { ...Strict, $id: input.title, description: input.description },
  );
  return {
    verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'],
    writers: 'users',
    admission: [],
    lifecycle: {},
    ...input,
    access: { visibleTo: input.scope === 'project' ? 'project-members' : 'everyone', ...input.access },
    objectSchema,
    // Compiled on first use: the CLI loads every kind for its names and columns and validates none.
    checkObject: lazyChecker(() => compileChecker(objectSchema)),
    checkSpec: lazyChecker(() => compileChecker(input.spec, 'spec')),
    checkStatus: lazyChecker(() => compileChecker(input.status, 'status')),
  };
}

function lazyChecker(compile: () => Checker): Checker {
  let checker: Checker | undefined;
  return (value) => (checker ??= compile())(value);
}

/** Checks label keys and values, which the schema only knows as strings. */
export function metadataProblems(meta: ObjectMeta): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const nameProblem = dnsLabelProblem(meta.name);
  if (nameProblem) problems.push({ path: 'metadata.name', message: nameProblem, value: meta.name });
  for (const [k, v] of Object.entries(meta.labels ?? {})) {
    const p = labelKeyProblem(k) ?? labelValueProblem(v);
    if (p) problems.push({ path: `metadata.labels.${k}`, message: p, value: v });
  }
  const size = JSON.stringify(meta.annotations ?? {}).length;
  if (size > 64 * 1024) problems.push({ path: 'metadata.annotations', message: `are ${size} bytes; at most 65536 are allowed` });
  return problems;
}

/**
 * Validates a user-supplied object of `kind` and returns its normalized spec.
 * Throws ValidationError listing every problem found.
 */
export function parseObject<S extends TObject, St extends TObject>(
  kind: Kind<S, St>,
  body: unknown,
): { metadata: ObjectMeta; spec: Static<S>; status?: Static<St> } {
  const problems = kind.checkObject(body);
  if (problems.length > 0) throw new ValidationError(problems);
  const obj = body as { metadata: ObjectMeta; spec: Static<S>; status?: Static<St> };
  const metaProblems = metadataProblems(obj.metadata);
  if (metaProblems.length > 0) throw new ValidationError(metaProblems);
  return { metadata: obj.metadata, spec: normalizeSpec(kind, obj.spec), status: obj.status };
}

/** Validates a status written by the platform and returns it normalized. */
export function parseStatus<S extends TObject, St extends TObject>(kind: Kind<S, St>, body: unknown): Static<St> {
  const problems = kind.checkStatus(body);
  if (problems.length > 0) throw new ValidationError(problems);
  if (!kind.normalizeStatus) return body as Static<St>;
  const out = kind.normalizeStatus(structuredClone(body as Static<St>), problems);
  if (problems.length > 0) throw new ValidationError(problems);
  return out;
}

export function normalizeSpec<S extends TObject, St extends TObject>(kind: Kind<S, St>, spec: Static<S>): Static<S> {
  if (!kind.normalize) return spec;
  const problems: FieldProblem[] = [];
  const out = kind.normalize(structuredClone(spec), problems);
  if (problems.length > 0) throw new ValidationError(problems);
  return out;
}
