/**
 * Names, labels and label selectors.
 *
 * Selector syntax (as in `stratus get -l`): comma-separated requirements
 *   app=web   app==web   tier!=db   env in (prod,staging)   env notin (dev)   gpu   !gpu
 * Every requirement must hold (AND). A parsed selector is a list of Requirements; `matches`
 * is the only evaluator, used by the API, the scheduler and the controllers alike.
 */
import { showValue } from './errors.js';

export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$';
const DNS_LABEL_RE = new RegExp(DNS_LABEL_PATTERN);
const LABEL_NAME_RE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_PREFIX_RE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const LABEL_VALUE_RE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

export type Labels = Record<string, string>;

/** Returns why `name` is not a DNS label, or undefined when it is one. */
export function dnsLabelProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 63) return `${showValue(name)} is longer than 63 characters`;
  if (!DNS_LABEL_RE.test(name)) {
    return `${showValue(name)} is not a DNS label (lowercase letters, digits and "-", starting and ending with a letter or digit)`;
  }
  return undefined;
}

export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && !LABEL_PREFIX_RE.test(prefix)) return `label key ${showValue(key)} has an invalid prefix (use a DNS name such as example.com/)`;
  if (!LABEL_NAME_RE.test(name)) return `label key ${showValue(key)} is not valid (up to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit)`;
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (!LABEL_VALUE_RE.test(value)) return `label value ${showValue(value)} is not valid (up to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit)`;
  return undefined;
}

export type Operator = 'eq' | 'neq' | 'in' | 'notin' | 'exists' | 'notexists';

export interface Requirement {
  key: string;
  op: Operator;
  values: string[];
}

export type Selector = Requirement[];

export class SelectorError extends Error {}

/** Parses a selector string; the empty string selects everything. Throws SelectorError. */
export function parseSelector(text: string): Selector {
  const out: Selector = [];
  for (const part of splitTopLevel(text)) {
    const req = parseRequirement(part.trim());
    const problem = labelKeyProblem(req.key);
    if (problem) throw new SelectorError(problem);
    for (const v of req.values) {
      const vp = labelValueProblem(v);
      if (vp) throw new SelectorError(vp);
    }
    out.push(req);
  }
  return out;
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
    if (depth < 0) throw new SelectorError(`unbalanced ")" in selector ${showValue(text)}`);
  }
  if (depth !== 0) throw new SelectorError(`unbalanced "(" in selector ${showValue(text)}`);
  const last = text.slice(start);
  if (parts.length > 0 || last.trim() !== '') parts.push(last);
  return parts;
}

const SET_RE = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/;

function parseRequirement(part: string): Requirement {
  if (part === '') throw new SelectorError('empty requirement in selector (two commas in a row?)');
  const set = SET_RE.exec(part);
  if (set) {
    const values = set[3]!.split(',').map((v) => v.trim());
    if (values.some((v) => v === '')) throw new SelectorError(`empty value in ${showValue(part)}`);
    return { key: set[1]!, op: set[2] as 'in' | 'notin', values };
  }
  const m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
  if (m) {
    const op: Operator = m[2] === '!=' ? 'neq' : 'eq';
    return { key: m[1]!, op, values: [m[3]!] };
  }
  if (part.startsWith('!')) return { key: part.slice(1).trim(), op: 'notexists', values: [] };
  if (/^\S+$/.test(part)) return { key: part, op: 'exists', values: [] };
  throw new SelectorError(`cannot parse ${showValue(part)} (use key=value, key!=value, key in (a,b), key or !key)`);
}

/** True when every requirement holds for `labels`. */
export function matches(selector: Selector, labels: Labels | undefined): boolean {
  for (const r of selector) {
    const v = labels?.[r.key];
    switch (r.op) {
      case 'eq': if (v !== r.values[0]) return false; break;
      case 'neq': if (v === r.values[0]) return false; break;
      case 'in': if (v === undefined || !r.values.includes(v)) return false; break;
      case 'notin': if (v !== undefined && r.values.includes(v)) return false; break;
      case 'exists': if (v === undefined) return false; break;
      case 'notexists': if (v !== undefined) return false; break;
    }
  }
  return true;
}

/** Canonical text of a selector, so equal selectors compare equal as strings. */
export function formatSelector(selector: Selector): string {
  return selector.map((r) => {
    switch (r.op) {
      case 'eq': return `${r.key}=${r.values[0]}`;
      case 'neq': return `${r.key}!=${r.values[0]}`;
      case 'in': return `${r.key} in (${r.values.join(',')})`;
      case 'notin': return `${r.key} notin (${r.values.join(',')})`;
      case 'exists': return r.key;
      case 'notexists': return `!${r.key}`;
    }
  }).join(',');
}
