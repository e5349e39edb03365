/**
 * What the stack endpoints take and answer (`POST /v1/projects/P/[stacks/NAME/]plan|apply`), and
 * reading the files of one request into one stack:
 *
 *   files + set ─▶ loadStack ─▶ objects, dependsOn waves, the stack's name
 *   objects ─▶ (server: dry run each, compare with what is stored) ─▶ StackPlan
 *   StackPlan ─▶ (server: write wave by wave, prune) ─▶ StackApplyResult
 *
 * Secrets' values never leave in a plan or a result: an item's `desired` and `object` are what the
 * API answers for it (a secret: its key names and versions), and `changes` compare those.
 */
import { Type, type Static } from '@sinclair/typebox';
import { StringEnum, Strict } from '../schema.js';
import { parseStackFile, StackFileError, type StackFile } from './file.js';
import type { Change } from './diff.js';

export const StackRequestSchema = Type.Object(
  {
    files: Type.Array(
      Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 1024, description: 'The file\'s name, for messages ("shop.yaml:7: services.web.replicas: ...") and the stack\'s source.' }),
          text: Type.String({ maxLength: 1024 * 1024, description: 'The file: compact stack, full objects, or resources: lists (see docs/architecture.md "Stacks").' }),
        },
        Strict,
      ),
      { minItems: 1, maxItems: 64, description: 'Stack files, read as one stack.' },
    ),
    set: Type.Optional(Type.Record(Type.String({ maxLength: 256 }), Type.String({ maxLength: 65536 }), { description: 'Values for ${name} in the files (the CLI\'s --set name=value); numbers and true/false are typed.' })),
    prune: Type.Optional(Type.Boolean({ description: 'Delete the stack\'s objects that the files no longer have.' })),
    waitForDependencies: Type.Optional(Type.Boolean({
      description: 'Apply only. Default true: a wave is written once what it dependsOn is healthy; when it is not yet, the apply stops there and says what it waits for (`waiting`): apply again to continue. false: every wave now, in order.',
    })),
  },
  { ...Strict, $id: 'StackRequest', description: 'Stack files to plan or apply. The stack is named by the URL, else by the files\' name:, else (with prune) by the first file\'s base name.' },
);

const ObjectRefSchema = Type.Object(
  { kind: Type.String(), name: Type.String(), project: Type.Optional(Type.String({ description: 'Absent for cluster kinds.' })) },
  Strict,
);

const ChangeSchema = Type.Object(
  {
    path: Type.String({ description: 'The field, e.g. spec.template.spec.command.' }),
    op: StringEnum(['+', '-', '~'], { description: '+ added, - removed, ~ changed.' }),
    from: Type.Optional(Type.Unknown()),
    to: Type.Optional(Type.Unknown()),
  },
  Strict,
);

export const PlanItemSchema = Type.Object(
  {
    ...ObjectRefSchema.properties,
    action: StringEnum(['create', 'update', 'unchanged']),
    changes: Type.Array(ChangeSchema, { description: 'Field by field, between what is stored and what would be (labels, annotations, spec).' }),
    wave: Type.Integer({ minimum: 0, description: 'Its place in the dependsOn order: wave N is written after waves 0..N-1.' }),
    dependsOn: Type.Array(Type.String()),
    desired: Type.Unknown({ description: 'The object as the API would store it (the dry run\'s answer; a secret: key names only).' }),
  },
  Strict,
);

export const StackPlanSchema = Type.Object(
  {
    stack: Type.Optional(Type.String({ description: 'The stack the objects belong to; absent: plain objects, no stack.' })),
    changed: Type.Boolean({ description: 'Whether applying would change anything.' }),
    items: Type.Array(PlanItemSchema, { description: 'Every object of the files, in file order.' }),
    prune: Type.Array(ObjectRefSchema, { description: 'With prune: the stack\'s objects the files no longer have, to be deleted.' }),
  },
  { ...Strict, $id: 'StackPlan' },
);

export const AppliedSchema = Type.Object(
  {
    ...ObjectRefSchema.properties,
    action: StringEnum(['created', 'configured', 'unchanged', 'deleted (pruned)']),
    object: Type.Optional(Type.Unknown({ description: 'What the API answered for the write (a secret: key names only).' })),
  },
  Strict,
);

export const StackApplyResultSchema = Type.Object(
  {
    stack: Type.Optional(Type.String()),
    dryRun: Type.Boolean({ description: 'Nothing was written: `applied` and `pruned` say what would be.' }),
    changed: Type.Boolean({ description: 'false: nothing to do ("No changes.").' }),
    complete: Type.Boolean({ description: 'Every wave is written and the prune done; false: stopped at `waiting`.' }),
    plan: StackPlanSchema,
    applied: Type.Array(AppliedSchema, { description: 'What was written, wave by wave.' }),
    pruned: Type.Array(AppliedSchema),
    waiting: Type.Optional(Type.Object(
      {
        for: Type.Array(Type.Object({ ...ObjectRefSchema.properties, state: StringEnum(['pending', 'healthy', 'failed']), health: Type.String() }, Strict), { description: 'What the next wave depends on, and how it is.' }),
        remaining: Type.Array(ObjectRefSchema, { description: 'What is not written yet.' }),
      },
      { ...Strict, description: 'Present when the apply stopped before a wave whose dependencies are not healthy yet: apply again (the same files) once they are.' },
    )),
  },
  { ...Strict, $id: 'StackApplyResult' },
);

export type StackRequest = Static<typeof StackRequestSchema>;
export type ObjectRef = Static<typeof ObjectRefSchema>;
export type PlanItemJson = Omit<Static<typeof PlanItemSchema>, 'changes'> & { changes: Change[] };
export type StackPlanJson = Omit<Static<typeof StackPlanSchema>, 'items'> & { items: PlanItemJson[] };
export type Applied = Static<typeof AppliedSchema>;
export type StackApplyResult = Omit<Static<typeof StackApplyResultSchema>, 'plan'> & { plan: StackPlanJson };

/** A file name that stands for standard input: it gives no default stack name. */
export const STDIN = 'stdin';

export interface LoadedStack {
  file: StackFile;
  /** The stack's name: `explicit`, else the files' name:, else (with prune) the first file's base name. */
  stack?: string;
  /** The files' names, as the stack records its source. */
  source: string;
}

/**
 * Reads the files of one request as one stack. Throws StackFileError naming the file, line and
 * field, or, for parameters no file declares, with details { unknownParameters, declared }.
 */
export function loadStack(req: Pick<StackRequest, 'files' | 'set' | 'prune'>, explicit?: string): LoadedStack {
  const set = req.set ?? {};
  const files = req.files.map((f) => parseStackFile(f.text, f.name, set));
  const declared = [...new Set(files.flatMap((f) => f.declared))].sort();
  const unknown = Object.keys(set).filter((k) => !declared.includes(k));
  if (unknown.length > 0) {
    const names = req.files.map((f) => f.name);
    throw new StackFileError(unknownParameters('set', unknown, names, declared), { unknownParameters: unknown, declared, files: names });
  }
  const file: StackFile = { parameters: Object.assign({}, ...files.map((f) => f.parameters)), objects: files.flatMap((f) => f.objects), name: files.find((f) => f.name)?.name, declared };
  if (file.objects.length === 0) throw new StackFileError('nothing to apply: the files hold no objects');
  const first = req.files[0]!.name;
  const stack = explicit ?? file.name ?? (req.prune && first !== STDIN ? baseName(first) : undefined);
  return { file, ...(stack ? { stack } : {}), source: req.files.map((f) => f.name).join(',') };
}

/** "--set colour: shop.yaml declares no such parameter (declared: cpu, replicas)"; `flag` names how they were given. */
export function unknownParameters(flag: string, unknown: string[], files: string[], declared: string[]): string {
  const which = files.length > 1 ? 'the files declare' : `${files[0]} declares`;
  return `${flag} ${unknown.join(', ')}: ${which} no such parameter (${declared.length ? `declared: ${[...declared].sort().join(', ')}` : 'none declared: add it under parameters: or use ${name} in the file'})`;
}

/** "deploy/Shop_v2.yaml" → "shop-v2". */
function baseName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return (dot > 0 ? base.slice(0, dot) : base).toLowerCase().replace(/[^a-z0-9-]/g, '-');
}

export function hasChanges(plan: { items: readonly { action: string }[]; prune: readonly unknown[] }): boolean {
  return plan.items.some((i) => i.action !== 'unchanged') || plan.prune.length > 0;
}

/** The parameters as the stack object records them: those that went into a secret's values are hidden. */
export function withoutSecretValues(parameters: StackFile['parameters'], file: StackFile): StackFile['parameters'] {
  const values = file.objects.filter((o) => o.kind.kind === 'secret').flatMap((o) => {
    const spec = o.body.spec as { data?: Record<string, string>; binaryData?: Record<string, string> };
    return [...Object.values(spec.data ?? {}), ...Object.values(spec.binaryData ?? {})];
  });
  return Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, String(v) !== '' && values.some((x) => String(x).includes(String(v))) ? '(secret)' : v]));
}
