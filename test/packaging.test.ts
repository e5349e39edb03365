/**
 * The README promises Node.js 20.19+: no dependency npm installs may ask for more, or `npm ci`
 * prints EBADENGINE warnings on Node 20 (as cookie@2 and content-disposition@3 did; package.json
 * overrides pin versions that run on 20). Optional packages npm skips are not checked.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers/server.js';

type Version = [number, number, number];

function parse(v: string): Version {
  const [a = 0, b = 0, c = 0] = v.replace(/^[v=]/, '').split('.').map((x) => (/^\d+$/.test(x) ? Number(x) : 0));
  return [a, b, c];
}

function cmp(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** Whether `v` satisfies one comparator: ">=22", "^22.20", "20.x", "18", "~1.2". */
function comparator(v: Version, c: string): boolean {
  const m = /^(>=|<=|>|<|=|\^|~)?\s*v?([\dx*]+(?:\.[\dx*]+)*)$/.exec(c.trim());
  if (!m) return true; // a form we do not read (e.g. "@node/buffer"): not ours to judge
  const [, op = '', text] = m;
  const parts = text!.split('.');
  const wildcard = parts.findIndex((p) => p === 'x' || p === '*');
  const fixed = wildcard < 0 ? parts.length : wildcard;
  const base = parse(parts.slice(0, fixed).join('.'));
  if (op === '' || op === '=') return parts.slice(0, fixed).every((p, i) => Number(p) === v[i]);
  if (op === '>=') return cmp(v, base) >= 0;
  if (op === '>') return cmp(v, base) > 0;
  if (op === '<=') return cmp(v, base) <= 0;
  if (op === '<') return cmp(v, base) < 0;
  if (op === '^') return v[0] === base[0] && cmp(v, base) >= 0;
  return v[0] === base[0] && (fixed < 2 || v[1] === base[1]) && cmp(v, base) >= 0; // ~
}

function satisfies(version: string, range: string): boolean {
  const v = parse(version);
  return range.split('||').some((alt) => alt.replace(/(>=|<=|>|<|=)\s+/g, '$1').trim().split(/\s+/).filter(Boolean).every((c) => comparator(v, c)));
}

describe('dependencies run on the Node.js the README promises', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; optional?: boolean; engines?: { node?: string } | string[] }> };
  const minimum = pkg.engines.node.replace(/^>=\s*/, '');

  it('reads engine ranges as npm does', () => {
    expect(satisfies('20.19.0', '>=22')).toBe(false);
    expect(satisfies('20.19.0', '^22.20 || ^24.12 || >=25')).toBe(false);
    expect(satisfies('20.19.0', '20.x || 22.x')).toBe(true);
    expect(satisfies('20.19.0', '18 || 20 || >=22')).toBe(true);
    expect(satisfies('20.19.0', '>= 0.4')).toBe(true);
    expect(satisfies('20.19.0', '^20.17.0 || >=22.9.0')).toBe(true);
  });

  it(`every package npm ci installs accepts Node ${minimum}`, () => {
    const refused = Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && !p.optional && !Array.isArray(p.engines) && p.engines?.node && !satisfies(minimum, p.engines.node))
      .map(([path, p]) => `${path.replace(/^.*node_modules\//, '')}@${p.version} wants node ${(p.engines as { node: string }).node}`);
    expect(refused).toEqual([]);
  });
});
