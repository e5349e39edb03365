#!/usr/bin/env node
// Runs the benchmarks in bench/, one after another (never in parallel: they measure this machine).
//   npm run bench                      every benchmark with its defaults
//   npm run bench -- api stack         only these
//   npm run bench -- agent -- start    one benchmark with its own arguments (after --)
// Figures and how to read them: docs/benchmarks.md.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const all = readdirSync(join(root, 'bench')).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort();
const argv = process.argv.slice(2);
const sep = argv.indexOf('--');
const names = sep < 0 ? argv : argv.slice(0, sep);
const extra = sep < 0 ? [] : argv.slice(sep + 1);
const unknown = names.filter((n) => !all.includes(n));
if (unknown.length > 0) {
  console.error(`bench: unknown benchmark ${unknown.join(', ')} (known: ${all.join(', ')})`);
  process.exit(2);
}
if (extra.length > 0 && names.length !== 1) {
  console.error('bench: arguments after -- need exactly one benchmark name before them');
  process.exit(2);
}
let failed = 0;
for (const name of names.length > 0 ? names : all) {
  console.log(`\n== ${name} (${new Date().toISOString()}, load ${loadavg()[0].toFixed(2)})`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench', `${name}.ts`), ...extra], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.error(`bench: ${name} exited with ${r.status ?? r.signal}`);
  }
}
process.exit(failed > 0 ? 1 : 0);
