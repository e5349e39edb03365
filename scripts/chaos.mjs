#!/usr/bin/env node
// The chaos suite (test/chaos/) at soak scale, and docs/reliability.md written from what it found.
//   npm run chaos              soak scale (more rounds, more replicas), then docs/reliability.md
//   npm run chaos -- --ci      the scale CI runs (npm test runs it too, without writing the file)
// Every scenario prints a row; this collects the rows ($STRATUS_CHAOS_OUT) into the table.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const scale = process.argv.includes('--ci') ? 'ci' : 'soak';
const dir = mkdtempSync(join(tmpdir(), 'stratus-chaos-'));
const out = join(dir, 'rows.jsonl');
const started = new Date();
console.log(`chaos: scale ${scale}, load ${loadavg()[0].toFixed(2)} on ${cpus().length} cores`);
const run = spawnSync(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'test/chaos', '--no-file-parallelism'], {
  cwd: root, stdio: 'inherit', env: { ...process.env, STRATUS_CHAOS_SCALE: scale, STRATUS_CHAOS_OUT: out },
});
const rows = existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
rmSync(dir, { recursive: true, force: true });
const pct = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] : 0;
};
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
const table = [
  '| scenario | fault | operations | lost | duplicated | time to recover (p50 / max) | notes |',
  '|---|---|---:|---:|---:|---|---|',
  ...rows.map((r) => `| ${r.scenario} | ${r.fault} | ${r.operations} | ${r.lost} | ${r.duplicated} | ${secs(pct(r.recoverMs, 0.5))} / ${secs(Math.max(0, ...r.recoverMs))} | ${r.notes ?? ''} |`),
];
const doc = `# Reliability: what the chaos suite found

Written by \`npm run chaos\` (scale \`${scale}\`) on ${started.toISOString().slice(0, 10)}, on this repository's
machine of ${cpus().length} cores (shared; times drift with its load, the zeros must not). Each row is one
scenario of \`test/chaos/\` against real processes: etcd 3.4 members, \`stratus server\`s on them,
\`stratus agent\`s running real workloads. CI runs the same files at scale \`ci\` on every change
(\`npm test\`), where every zero below is an assertion. Scenario by scenario, what is done and what is
checked: the doc comment at the top of each test file.

${table.join('\n')}

- **lost**: acknowledged writes (or replicas, or instances) missing at the end. **duplicated**: an
  object twice, a watch event delivered twice, a replica over \`replicas + maxSurge\`, a workload
  restarted that should not have been, an instance bound twice or a node over capacity, as the row's
  scenario counts it.
- **time to recover**: from the fault to the cloud serving that scenario's work again (a new leader
  and a write acknowledged, the rollout moving, every instance running again), per fault.
- A write that got no answer or a 503 may or may not have been applied (the notes count them and
  how many were); it is never counted as acknowledged.
${run.status === 0 ? '' : `\n**This run failed (exit ${run.status ?? run.signal}): the rows above are the scenarios that got as far as reporting.**\n`}`;
if (scale === 'soak' || process.argv.includes('--write')) {
  writeFileSync(join(root, 'docs', 'reliability.md'), doc);
  console.log(`chaos: ${rows.length} rows written to docs/reliability.md`);
} else {
  console.log(table.join('\n'));
}
process.exit(run.status ?? 1);
