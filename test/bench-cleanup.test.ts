/**
 * Every benchmark cleans up what it creates. The benchmarks run with tiny round counts inside a
 * network namespace of their own (so that links and nftables tables of other work on this machine
 * cannot be mistaken for theirs), and what exists is listed before and after: cgroups (every
 * hierarchy under /sys/fs/cgroup), network namespaces, links and nftables tables of that
 * namespace, runc containers, temp dirs. Everything a benchmark creates carries "bench" in its name
 * (cgroup parents, node names and so task ids, namespace prefixes, temp dirs), so that what other
 * tests create meanwhile on this shared machine is not counted. Needs root, runc and busybox
 * (and haproxy and wrk for the load-balancer benchmark); skipped with the reason otherwise.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../bench/lib/util.js';
import { hostRunner } from '../src/node/network/exec.js';

const NS = `stratus-benchclean-${process.pid}`;
const has = (tool: string, arg = '--version') => !spawnSync(tool, [arg], { stdio: 'ignore' }).error;
const skip = process.getuid?.() !== 0 ? 'needs root' : !has('runc') ? 'needs runc' : !has('nft') ? 'needs nft' : !existsSync('/bin/busybox') ? 'needs busybox-static' : undefined;
const lbSkip = skip ?? (!has('haproxy', '-v') || !has('wrk', '-v') ? 'needs haproxy and wrk (scripts/install-deps.sh --bench)' : undefined);
if (skip) console.warn(`benchmark cleanup tests skipped: ${skip}`);

function run(argv: string[], input?: string): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited with ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Directories of every cgroup hierarchy, relative to its mount, that name a benchmark. */
function cgroups(): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const r = `${rel}/${e.name}`;
      out.push(r);
      walk(join(dir, e.name), r);
    }
  };
  for (const h of readdirSync('/sys/fs/cgroup')) walk(join('/sys/fs/cgroup', h), h);
  return out.filter((d) => d.includes('bench'));
}

/** What of the benchmarks exists now; links and tables are those of their namespace. */
function inventory(): Record<string, string[]> {
  const inNs = (argv: string[]) => run(['nsenter', `--net=/run/netns/${NS}`, '--', ...argv]);
  return {
    cgroups: cgroups(),
    netns: readdirSync('/run/netns').filter((n) => n.includes('bench') && n !== NS),
    links: inNs(['ip', '-o', 'link', 'show']).split('\n').filter(Boolean).map((l) => l.split(': ')[1]!.split('@')[0]!),
    tables: inNs(['nft', 'list', 'tables']).split('\n').filter(Boolean),
    runc: ['/run/runc', '/run/stratus/runc'].flatMap((root) => (existsSync(root) ? readdirSync(root).filter((c) => c.includes('bench')) : [])),
    userns: existsSync('/run/stratus/userns') ? readdirSync('/run/stratus/userns').flatMap((r) => readdirSync(join('/run/stratus/userns', r)).filter((t) => t.includes('bench'))) : [],
    tmp: readdirSync(tmpdir()).filter((f) => f.includes('bench')),
  };
}

/** A benchmark, run in the namespace (nsenter: the same mounts, cgroups included; `ip netns exec` would remount /sys). */
async function bench(args: string[]): Promise<string> {
  const argv = ['nsenter', `--net=/run/netns/${NS}`, '--', process.execPath, '--import', 'tsx', join(ROOT, 'bench', args[0]!), ...args.slice(1)];
  return (await hostRunner.run(argv, { timeoutMs: 200_000 })).stdout;
}

describe.skipIf(skip !== undefined)('benchmarks clean up after themselves', () => {
  let before: Record<string, string[]>;

  beforeAll(() => {
    run(['ip', 'netns', 'add', NS]);
    run(['ip', '-n', NS, 'link', 'set', 'dev', 'lo', 'up']);
    before = inventory();
    expect(before.links).toEqual(['lo']);
  });

  afterAll(() => {
    spawnSync('ip', ['netns', 'del', NS]);
  });

  it('bench/driver-start.ts: no cgroup, runc container, user-namespace dir or temp dir left', async () => {
    expect(await bench(['driver-start.ts', '2'])).toContain('| container driver |');
    expect(inventory()).toEqual(before);
  }, 180_000);

  it('bench/agent.ts start, host networking and a namespace per instance: nothing left, the runc peers\' cgroups included', async () => {
    const out = await bench(['agent.ts', 'start', '--rounds', '2', '--network', 'both']);
    expect(out).toContain('per-instance network namespace');
    expect(inventory()).toEqual(before);
  }, 240_000);

  it.skipIf(lbSkip !== undefined)('bench/network-lb.ts: no namespace, link, table or temp file left', async () => {
    expect(await bench(['network-lb.ts', '--rounds', '0'])).toContain('every series answers');
    expect(inventory()).toEqual(before);
  }, 180_000);
});
