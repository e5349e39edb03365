/**
 * Reading object files for apply/delete: YAML or JSON, several documents per file, or a
 * `resources:` list. Syntax errors name the file, line and column; unknown kinds are named.
 */
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { findKind } from '../model/kinds/index.js';
import type { Kind } from '../model/kind.js';
import { CliError } from './errors.js';

export interface Manifest {
  kind: Kind;
  body: Record<string, unknown>;
  /** Where it came from, for messages: file#index. */
  source: string;
}

export function readInput(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

export function parseManifests(text: string, file: string): Manifest[] {
  const docs = YAML.parseAllDocuments(text, { prettyErrors: true });
  const out: Manifest[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      throw new CliError(`${file}:${pos ? `${pos.line}:${pos.col}` : '?'}: YAML syntax error: ${err.message.split('\n')[0]}`);
    }
    const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (value === null || value === undefined) continue;
    const line = doc.contents?.range ? lineOf(text, doc.contents.range[0]) : 1;
    const where = `${file}:${line}`;
    if (typeof value !== 'object' || Array.isArray(value)) throw new CliError(`${where}: expected an object with kind, metadata and spec`);
    const obj = value as Record<string, unknown>;
    if (Array.isArray(obj.resources) && obj.kind === undefined) {
      obj.resources.forEach((r, j) => out.push(toManifest(r, `${where} resources[${j}]`)));
    } else {
      out.push(toManifest(obj, where));
    }
  }
  return out;
}

function toManifest(value: unknown, source: string): Manifest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CliError(`${source}: expected an object with kind, metadata and spec`);
  const body = { ...(value as Record<string, unknown>) };
  if (typeof body.kind !== 'string') throw new CliError(`${source}: kind is required (e.g. kind: instance)`);
  const kind = findKind(body.kind);
  if (!kind) throw new CliError(`${source}: unknown kind ${JSON.stringify(body.kind)}`);
  body.kind = kind.kind;
  const meta = body.metadata as { name?: unknown } | undefined;
  if (!meta || typeof meta.name !== 'string') throw new CliError(`${source}: metadata.name is required`);
  return { kind, body, source };
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
