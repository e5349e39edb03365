/**
 * The CLI starts fast because a command loads only what it needs: what `stratus --version` and
 * `stratus get` import (the static imports reachable from main.ts) holds no server, node (agent,
 * drivers, network), scheduler, API, policy or runtime code, and no yaml; those load when their commands run
 * (`import()`). (server/defaults and server/http-limits hold only the server flags' defaults.)
 * Measured in bench/cli-start.ts; this checks the shape, not the time.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve(import.meta.dirname, '..');

/** Source files reachable from `entry` through static, non-type imports; packages by name. */
function reachable(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^import\s+(?!type\b)(?:[^'";]*?\s+from\s+)?'([^']+)';/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) {
        const ts = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
        if (existsSync(ts)) visit(ts);
      } else if (!spec.startsWith('node:')) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  };
  visit(entry);
  return { files, packages };
}

describe('what every stratus command loads', () => {
  const { files, packages } = reachable(join(SRC, 'cli', 'main.ts'));
  const loaded = [...files].map((f) => relative(SRC, f));

  it('holds no server, agent, scheduler, driver, network or API code', () => {
    expect(loaded.filter((f) => /^(server\/(?!defaults|http-limits)|node\/|scheduler\/|api\/|store\/|controllers\/|policy\/|runtime\/)/.test(f))).toEqual([]);
  });

  it('loads no package a table does not need (fastify, better-sqlite3, yaml)', () => {
    expect([...packages].filter((p) => ['fastify', 'better-sqlite3', 'yaml', '@fastify/swagger', 'ws'].includes(p))).toEqual([]);
  });
});
