/**
 * Stack files. Three shapes, mixable across documents:
 *
 *   name: shop                      # compact: a stack name, parameters, and objects by kind
 *   parameters: {replicas: 3}
 *   services:
 *     web: {replicas: ${replicas}, template: {driver: process, command: [...]}, dependsOn: [redis]}
 *   instances:
 *     batch: {driver: process, command: [...], restartPolicy: never}
 *   secrets:                        # stored encrypted; plan and apply show key names and versions only
 *     db: {data: {password: ${db_password}}}
 *   volumes:                        # any kind's section (its `stack` descriptor: sections.ts)
 *     data: {size: 10Gi}
 *   ---
 *   kind: service                   # full objects, one per document (dependsOn: beside kind)
 *   metadata: {name: api}
 *   spec: {...}
 *   ---
 *   resources: [ {kind: ..., ...}, ... ]
 *
 * `${name}` is replaced by a parameter (--set name=value, else the file's default): a string that
 * is exactly `${name}` takes the parameter's type. It may stand anywhere a value may, flow maps
 * included (`{cpu: ${cpu}}`): each is masked as a plain word before the YAML is read, and
 * substituted after. Errors name the file, the line and the path.
 */
import { createRequire } from 'node:module';
import type { Document } from 'yaml';
import type YAMLModule from 'yaml';
import type { Kind } from '../kind.js';
import { StratusError } from '../errors.js';
import { dnsLabelProblem } from '../labels.js';
import { registeredStackKinds, type StackKinds } from './sections.js';

/**
 * A stack file that cannot be read: its message names the file, the line and the field
 * ("shop.yaml:7: services.web.replicas: ..."), as the CLI prints it.
 */
export class StackFileError extends StratusError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('STRATUS_ERR_STACK_INVALID', message, details);
  }
}

/** The yaml package, loaded on first use (the CLI's `stratus get` must not pay for it). */
let yamlModule: typeof YAMLModule | undefined;
function yaml(): typeof YAMLModule {
  yamlModule ??= createRequire(import.meta.url)('yaml') as typeof YAMLModule;
  return yamlModule;
}

export interface StackObject {
  kind: Kind;
  name: string;
  body: { kind: string; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec: unknown };
  dependsOn: string[];
  /** How the file names it, for messages: "services.web" or "service/web (file.yaml:12)". */
  where: string;
  /** Turns a server path (spec.template.spec.x) into the file's terms: `stack.yaml:12: services.web.template.x`. */
  path: (serverPath: string) => string;
}

export interface StackFile {
  name?: string;
  parameters: Record<string, string | number | boolean>;
  objects: StackObject[];
  /** Parameters the file declares (under parameters:) or uses (`${name}`): what --set may name. */
  declared: string[];
}

/**
 * Reads one stack file, `${name}`s replaced by `set` or the file's defaults. `kinds`: the kinds
 * it may hold and their compact sections (default: every registered kind's). Compact sections
 * are read in file order. Throws StackFileError naming the file, the line and the field.
 */
export function parseStackFile(text: string, file: string, set: Record<string, string>, kinds: StackKinds = registeredStackKinds()): StackFile {
  const masked = maskParameters(text);
  const docs = yaml().parseAllDocuments(masked.text, { prettyErrors: true });
  const out: StackFile = { parameters: {}, objects: [], declared: [] };
  const raw: { value: unknown; line: number; locate: Locate }[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      throw new StackFileError(`${file}:${pos ? `${pos.line}:${pos.col}` : '?'}: YAML syntax error: ${err.message.split('\n')[0]}`);
    }
    const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
    const line = doc.contents?.range ? lineOf(masked.text, doc.contents.range[0]) : 1;
    if (value !== null && value !== undefined) raw.push({ value, line, locate: (segs) => `${file}:${lineAt(doc, segs, masked.text) ?? line}` });
  }
  for (const { value } of raw) {
    const v = value as Record<string, unknown>;
    if (typeof v === 'object' && v && !Array.isArray(v) && v.parameters && typeof v.parameters === 'object') setParameters(out.parameters, masked.unmask(v.parameters) as Record<string, unknown>, file);
  }
  out.declared = [...new Set([...Object.keys(out.parameters), ...masked.names])];
  setParameters(out.parameters, Object.fromEntries(Object.entries(set).map(([k, val]) => [k, coerce(val)])), file);
  for (const { value, line, locate } of raw) {
    const where = `${file}:${line}`;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new StackFileError(`${where}: expected an object (a stack, or kind/metadata/spec)`);
    const v = substitute(value, out.parameters, '', masked, (p) => `${locate(segments(p))}: ${p}`) as Record<string, unknown>;
    if (typeof v.name === 'string' || Object.keys(v).some((k) => kinds.sections.has(k))) readCompact(v, out, where, locate, kinds);
    else if (Array.isArray(v.resources) && v.kind === undefined) v.resources.forEach((r, i) => out.objects.push(fullObject(r, `${where} resources[${i}]`, (segs) => locate(['resources', i, ...segs]), kinds)));
    else out.objects.push(fullObject(v, where, locate, kinds));
  }
  checkDependencies(out.objects);
  return out;
}

/** `file:line` of the YAML node at a path (its nearest ancestor that exists). */
type Locate = (segments: (string | number)[]) => string;

/** "services.web.template.command[1]" → ["services", "web", "template", "command", 1]. */
function segments(path: string): (string | number)[] {
  return path.split('.').flatMap((part) => part.split(/\[(\d+)\]/).filter((x) => x !== '').map((x, i) => (i > 0 && /^\d+$/.test(x) ? Number(x) : x)));
}

/** The line of the node at `segs` in `doc`, or of its nearest ancestor that exists. */
function lineAt(doc: Document, segs: (string | number)[], text: string): number | undefined {
  for (let n = segs.length; n >= 0; n--) {
    const node = doc.getIn(segs.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return lineOf(text, node.range[0]);
  }
  return undefined;
}

function readCompact(v: Record<string, unknown>, out: StackFile, where: string, locate: Locate, kinds: StackKinds): void {
  const allowed = new Set(['name', 'description', 'parameters', ...kinds.sections.keys()]);
  for (const key of Object.keys(v)) if (!allowed.has(key)) throw new StackFileError(`${where}: unknown top-level field "${key}" (allowed: ${[...allowed].join(', ')})`);
  if (v.name !== undefined) {
    if (typeof v.name !== 'string' || !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(v.name)) throw new StackFileError(`${where}: name ${JSON.stringify(v.name)} is not a DNS label`);
    if (out.name && out.name !== v.name) throw new StackFileError(`${where}: two stack names (${out.name}, ${v.name}) in one file`);
    out.name = v.name;
  }
  for (const [section, entries] of Object.entries(v)) {
    const kind = kinds.sections.get(section);
    if (!kind || entries === undefined) continue;
    if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) throw new StackFileError(`${where}: ${section} must map names to definitions`);
    for (const [name, def] of Object.entries(entries as Record<string, unknown>)) out.objects.push(compactObject(kind, section, name, def, locate));
  }
}

function compactObject(kind: Kind, section: string, name: string, def: unknown, locate: Locate): StackObject {
  const at = `${section}.${name}`;
  const here = `${locate([section, name])}: ${at}`;
  if (typeof def !== 'object' || def === null || Array.isArray(def)) throw new StackFileError(`${here}: expected a definition (a map of fields)`);
  const bad = dnsLabelProblem(name);
  if (bad) throw new StackFileError(`${here}: the name ${bad}`);
  const { dependsOn, labels, annotations, ...rest } = def as Record<string, unknown>;
  const metadata = { name, ...(labels ? { labels: labels as Record<string, string> } : {}), ...(annotations ? { annotations: annotations as Record<string, string> } : {}) };
  let spec: unknown = rest;
  let inFile = (p: string) => p.replace(/^spec\b/, at).replace(/^metadata\.name\b/, at).replace(/^metadata\./, `${at}.`);
  if (kind.stack?.template) {
    const { template, ...svc } = rest as { template?: unknown };
    spec = { ...svc, template: { ...(labels ? { metadata: { labels } } : {}), spec: template } };
    inFile = (p) => p.replace(/^spec\.template\.spec\b/, `${at}.template`).replace(/^spec\.template\.metadata\.labels\b/, `${at}.labels`).replace(/^spec\b/, at).replace(/^metadata\./, `${at}.`);
  }
  const path = (p: string) => `${locate(segments(inFile(p)))}: ${inFile(p)}`;
  return { kind, name, body: { kind: kind.kind, metadata, spec }, dependsOn: deps(dependsOn, at), where: here, path };
}

function fullObject(value: unknown, where: string, locate: Locate, kinds: StackKinds): StackObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new StackFileError(`${where}: expected an object with kind, metadata and spec`);
  const { dependsOn, ...body } = value as Record<string, unknown>;
  if (typeof body.kind !== 'string') throw new StackFileError(`${where}: kind is required (e.g. kind: service)`);
  const kind = kinds.find(body.kind);
  if (!kind) throw new StackFileError(`${where}: unknown kind ${JSON.stringify(body.kind)}`);
  const meta = body.metadata as { name?: unknown } | undefined;
  if (!meta || typeof meta.name !== 'string') throw new StackFileError(`${where}: metadata.name is required`);
  const bad = dnsLabelProblem(meta.name);
  if (bad) throw new StackFileError(`${locate(['metadata', 'name'])}: metadata.name ${bad}`);
  const label = `${kind.kind}/${meta.name}`;
  return {
    kind, name: meta.name, body: { ...body, kind: kind.kind } as StackObject['body'], dependsOn: deps(dependsOn, label), where: `${label} (${where})`,
    path: (p) => `${locate(segments(p))}: ${label} ${p}`,
  };
}

function deps(v: unknown, at: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new StackFileError(`${at}.dependsOn: expected a list of names`);
  return v as string[];
}

/** Every dependsOn names an object of the file; there is no cycle. */
function checkDependencies(objects: StackObject[]): void {
  const names = new Map<string, StackObject>();
  for (const o of objects) {
    const key = `${o.kind.kind}/${o.name}`;
    if ([...names.values()].some((x) => `${x.kind.kind}/${x.name}` === key)) throw new StackFileError(`${o.where}: ${key} is defined twice`);
    names.set(o.name, o);
  }
  for (const o of objects) {
    for (const d of o.dependsOn) if (!names.has(d)) throw new StackFileError(`${o.where}.dependsOn: "${d}" is not defined in this file (defined: ${[...names.keys()].join(', ') || 'nothing'})`);
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, trail: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new StackFileError(`dependsOn cycle: ${[...trail.slice(trail.indexOf(name)), name].join(' → ')}`);
    state.set(name, 'visiting');
    for (const d of names.get(name)!.dependsOn) visit(d, [...trail, name]);
    state.set(name, 'done');
  };
  for (const o of objects) visit(o.name, []);
}

/**
 * Objects in waves: each wave depends only on earlier waves. Objects of kinds whose `stack` says
 * `first` (secrets, volumes) that depend on nothing come first, in a wave of their own: instances
 * and services are admitted only once what they name exists.
 */
export function waves(objects: StackObject[]): StackObject[][] {
  const first = objects.filter((o) => o.kind.stack?.first && o.dependsOn.length === 0);
  const done = new Set(first.map((o) => o.name));
  const out: StackObject[][] = first.length > 0 ? [first] : [];
  let left = objects.filter((o) => !first.includes(o));
  while (left.length > 0) {
    const wave = left.filter((o) => o.dependsOn.every((d) => done.has(d)));
    out.push(wave);
    for (const o of wave) done.add(o.name);
    left = left.filter((o) => !wave.includes(o));
  }
  return out;
}

/** `${name}` references of a file's text, each masked as a word YAML reads as a plain scalar anywhere. */
interface Masked {
  text: string;
  /** Parameter names the text refers to. */
  names: string[];
  /** The parameter a masked word stands for. */
  nameOf: (word: string) => string | undefined;
  /** `v` with every masked word back to its `${name}` text (keys, parameter defaults). */
  unmask: <T>(v: T) => T;
}

const PARAM_REF = /\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}/g;
const MASK = /__STRATUS_PARAM_(\d+)__/g;

function maskParameters(text: string): Masked {
  const names: string[] = [];
  const masked = text.replace(PARAM_REF, (_m, name: string) => {
    let i = names.indexOf(name);
    if (i < 0) i = names.push(name) - 1;
    return `__STRATUS_PARAM_${i}__`;
  });
  const nameOf = (word: string) => {
    const m = /^__STRATUS_PARAM_(\d+)__$/.exec(word);
    return m ? names[Number(m[1])] : undefined;
  };
  const unmaskText = (t: string) => t.replace(MASK, (m, i: string) => (names[Number(i)] !== undefined ? `\${${names[Number(i)]}}` : m));
  const unmask = <T>(v: T): T => {
    if (typeof v === 'string') return unmaskText(v) as T;
    if (Array.isArray(v)) return v.map(unmask) as T;
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [unmaskText(k), unmask(x)])) as T;
    return v;
  };
  return { text: masked, names, nameOf, unmask };
}

/** `at(path)`: where a path of the document is, for messages (`stack.yaml:7: services.web.replicas`). */
function substitute(v: unknown, params: Record<string, string | number | boolean>, path: string, masked: Masked, at: (path: string) => string): unknown {
  if (typeof v === 'string') {
    const whole = masked.nameOf(v);
    if (whole !== undefined) return param(whole, params, at(path));
    return v.replace(MASK, (m) => {
      const name = masked.nameOf(m);
      return name === undefined ? m : String(param(name, params, at(path)));
    });
  }
  if (Array.isArray(v)) return v.map((x, i) => substitute(x, params, `${path}[${i}]`, masked, at));
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k0, x]) => {
      const k = masked.unmask(k0);
      return [k, k === 'parameters' && path === '' ? masked.unmask(x) : substitute(x, params, path ? `${path}.${k}` : k, masked, at)];
    }));
  }
  return v;
}

function param(name: string, params: Record<string, string | number | boolean>, where: string): string | number | boolean {
  if (!Object.hasOwn(params, name)) throw new StackFileError(`${where}: parameter \${${name}} has no value (set it with --set ${name}=... or under parameters:)`);
  return params[name]!;
}

/** Copies parameters by name (own keys only: a key "__proto__" is no parameter). */
function setParameters(into: StackFile['parameters'], from: Record<string, unknown>, file: string): void {
  for (const [k, v] of Object.entries(from)) {
    if (k === '__proto__') throw new StackFileError(`${file}: parameters: "__proto__" is not a parameter name`);
    into[k] = v as string | number | boolean;
  }
}

function coerce(v: string): string | number | boolean {
  if (/^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  if (v === 'true' || v === 'false') return v === 'true';
  return v;
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
