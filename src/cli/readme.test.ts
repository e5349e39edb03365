import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from './main.js';
import { kindNames } from '../model/kinds/index.js';

const README = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
/** The README's section on the CLI: its words and its table. */
const section = README.slice(README.indexOf('## The CLI'), README.indexOf('\n## ', README.indexOf('## The CLI') + 1));
/** The commands each row of the table names, as written: "project create|delete [--cascade]|members". */
const rows = section.split('\n').filter((l) => l.startsWith('| `')).flatMap((l) => [...l.split(' | ')[0]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\\\|/g, '|')));

const program = buildProgram();
const options = (c: Command) => c.options.flatMap((o) => [o.long, o.short]).filter(Boolean);

describe('README and CLI agree', () => {
  it.each(rows)('`%s` is a command with those options', (row) => {
    const [top, ...rest] = row.split(/\s+/);
    const cmd = program.commands.find((c) => c.name() === top);
    expect(cmd, `stratus ${top}`).toBeDefined();
    const subs = cmd!.commands.length > 0 ? rest.join(' ').split('|').map((p) => p.trim().split(/\s+/)[0]!).filter((w) => /^[a-z]/.test(w)) : [];
    for (const sub of subs) expect(cmd!.commands.map((c) => c.name()), `stratus ${top} ${sub}`).toContain(sub);
    const known = new Set([...options(program), ...options(cmd!), ...cmd!.commands.flatMap(options)]);
    for (const flag of row.match(/(?<![\w-])--?[a-zA-Z][\w-]*/g) ?? []) expect([...known], `stratus ${top}: ${flag}`).toContain(flag);
  });

  it('names every command of stratus --help in its CLI section', () => {
    // A row of the table, or (server, agent) `stratus NAME` where the README explains it.
    const missing = program.commands.map((c) => c.name()).filter((n) => n !== 'help' && !rows.some((r) => r.split(/\s+/)[0] === n) && !README.includes(`stratus ${n}`));
    expect(missing).toEqual([]);
  });

  it('lists every kind in `stratus get --help` and in the concepts', () => {
    const get = program.commands.find((c) => c.name() === 'get')!;
    for (const plural of kindNames()) expect(get.description()).toContain(plural);
    const concepts = README.slice(README.indexOf('- **Kinds**'), README.indexOf('- **Quantities**'));
    for (const plural of kindNames()) expect(concepts.replace(/\s+/g, ' ')).toContain(plural.replace(/s$/, '').replace(/ie$/, 'y'));
  });
});
