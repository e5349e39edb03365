/**
 * Service load balancing end to end: a real `stratus server` and three real `stratus agent`
 * processes, each agent in its own network namespace acting as a separate host (underlay bridge
 * 198.18.213.0/24; the server listens on .254 in this machine's namespace). A real `service`
 * object, created through the API; the service controller makes its replicas:
 *
 *   alpha/web     3 replicas, one per host (required anti-affinity); each a Node process answering
 *                 its own name ($STRATUS_INSTANCE) over HTTP on :8080 and as a greeting on :9000;
 *                 service ports 80 → 8080 (published on 30090 on every host) and 9000 → 9000;
 *                 health check GET :8080/ every 2 s
 *                 (restarted, a replica listens only RESTART_DELAY_MS later: a killed one stays dead
 *                 long enough to see that the balancer left it out)
 *   alpha/client  a plain instance on host 1; requests are made from its namespace
 *
 * Proves: the address and the spread; answers from all three through the address and by name;
 * after a SIGKILL or a hang (SIGSTOP) of a replica, no new request fails once one health interval
 * has passed (the hang: before the replica's own agent has declared it unready); the published
 * port on every host from outside; least-connections through the userspace proxy; draining on
 * scale-down (no new connections, an open one keeps working); deletion releases the address and
 * leaves nothing behind. Needs root; skipped with the reason otherwise. Waits are bounded polls;
 * the timing claims are the balancer's own (one health interval) and the agent's (3 failed checks).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import type { client, TestServer } from './helpers/server.js';
import { AgentHosts } from './helpers/agent-hosts.js';
import { networkTestSkipReason, sleep, type SimCluster } from '../src/node/network/testing.js';
import { hostRunner } from '../src/node/network/exec.js';
import { ipamKeys } from '../src/model/keyspace.js';

const skip = networkTestSkipReason();
if (skip) console.warn(`service load-balancing tests skipped: ${skip}`);

const RUN = String(process.pid % 100000);
const NODES = [1, 2, 3].map((n) => `sv${n}-${RUN}`);
const hosts = new AgentHosts('ns', 213, 3);
const prefixOf = (n: number) => hosts.prefixOf(n);
const underlayOf = (n: number) => hosts.underlayOf(n);
const until = <T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms?: number) => hosts.until(what, get, ok, ms);
const HEALTH_INTERVAL_MS = 2000;
const PUBLISHED = 30090;

/** A replica: restarted (its marker exists), it waits RESTART_DELAY_MS before it listens again. */
const RESTART_DELAY_MS = 8000;
const REPLICA = `const name = process.env.STRATUS_INSTANCE; const fs = require('fs'); const mark = process.env.MARKS + '/' + name;
const again = fs.existsSync(mark); fs.writeFileSync(mark, '');
setTimeout(() => {
require('http').createServer((q, r) => r.end(name + '\\n')).listen(8080);
require('net').createServer((s) => { s.on('error', () => {}); s.write(name + '\\n'); s.pipe(s); }).listen(9000);
}, again ? ${RESTART_DELAY_MS} : 0);`;

/**
 * Holds connections to host:port open on command: "open" → {id, name} (the greeting), "echo <id>"
 * → {id, echoed} (a round trip on that connection), "close <id>" → {closed}.
 */
const HOLDER = `const [host, port] = process.argv.slice(1);
const net = require('net'); const conns = new Map(); let n = 0;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, arg] = line.split(' ');
  if (cmd === 'echo') {
    const s = conns.get(Number(arg)); if (!s) return out({ id: Number(arg), error: 'not open' });
    const t = setTimeout(() => out({ id: Number(arg), error: 'timeout' }), 3000);
    s.once('data', (d) => { clearTimeout(t); out({ id: Number(arg), echoed: String(d).trim() }); }); s.write('ping\\n'); return;
  }
  if (cmd === 'close') { conns.get(Number(arg))?.destroy(); conns.delete(Number(arg)); setTimeout(() => out({ closed: Number(arg) }), 500); return; }
  const id = ++n; const s = net.connect(Number(port), host); let buf = ''; let done = false;
  const finish = (o) => { if (!done) { done = true; clearTimeout(t); out(o); } };
  const t = setTimeout(() => { s.destroy(); finish({ id, error: 'timeout' }); }, 5000);
  s.on('data', (d) => { buf += d; if (buf.includes('\\n') && !done) { conns.set(id, s); finish({ id, name: buf.trim() }); } });
  s.on('error', (e) => finish({ id, error: e.code }));
});`;

type Inst = { metadata: { name: string; uid: string }; status?: { phase: string; node?: string; ip?: string; pid?: number; restarts?: number; conditions?: { type: string; status: string }[] } };
type Svc = { status?: { address?: string } };

let cluster: SimCluster;
let server: TestServer;
let api: ReturnType<typeof client>;
let work: string;
let clientInst: Inst;
let vip: string;

const replicas = async () => ((await api('GET', `/v1/projects/alpha/instances?selector=${encodeURIComponent('stratus.io/service=web')}`)).body as { items: Inst[] }).items;
const ready = (i: Inst) => i.status?.phase === 'Running' && i.status.ip !== undefined && i.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
const nsOf = (i: Inst) => hosts.nsOf(i);
/** `count` sequential GETs from the client instance's namespace, each on a new connection. */
const gets = (url: string, count: number, timeoutMs = 3000) => cluster.httpGets(nsOf(clientInst), url, count, 0, timeoutMs);
const hostExec = (n: number, argv: string[]) => cluster.exec(cluster.hosts[n - 1]!.ns, argv);
/** Matches the address and not a longer one it is a prefix of (10.0.0.2 vs 10.0.0.25). */
const ipRe = (ip: string) => new RegExp(`${ip.replace(/\./g, '\\.')}(?![0-9])`);

/** The DNAT chains of the service's ports on host n. */
async function serviceChains(n: number): Promise<string> {
  const chains = [80, 9000].map((p) => hostExec(n, ['nft', 'list', 'chain', 'ip', 'stratus', `svc-${vip.replace(/\./g, '-')}-tcp-${p}`]));
  return (await Promise.all(chains)).map((r) => r.stdout).join('\n');
}

/** Until `count` GETs of `url` answer exactly the names of the (three) ready replicas. */
async function answersFromAll(url: string, count = 12): Promise<string[]> {
  const names = (await until('three ready replicas', replicas, (rs) => rs.filter(ready).length === 3)).filter(ready).map((r) => r.metadata.name).sort();
  await until(`${url} answers from ${names.join(', ')}`, () => gets(url, count), (got) => JSON.stringify([...new Set(got)].sort()) === JSON.stringify(names), 45_000);
  return names;
}

/** IPAM keys of the project's default network held by service owners (read from the server's store). */
function serviceLeases(): string[] {
  const db = new Database(join(server.dataDir, 'stratus.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare<[string], { key: string; value: string }>('SELECT key, value FROM kv WHERE key LIKE ?').all(`${ipamKeys.all}%/alpha/default/%`);
    return rows.filter((r) => r.key.includes('/service/') || r.value.includes('"kind":"service"')).map((r) => r.key);
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  if (skip) return;
  await hosts.start('stratus-net-svc-');
  ({ cluster, server, api, work } = hosts);
  // The replicas and the client write files that the test reads on the host (restart marks, the
  // lookup): only unisolated processes can, so the agents and the project allow them.
  await Promise.all(NODES.map((node, i) => hosts.startAgent(node, i + 1, ['--allow-unisolated'])));
  expect((await api('POST', '/v1/projects', { metadata: { name: 'alpha' }, spec: { allowUnisolated: true } })).status).toBe(201);
  const lookup = `until /bin/busybox nslookup web "$STRATUS_DNS" > lookup.tmp 2>&1; do sleep 0.3; done; cp lookup.tmp ${join(work, 'lookup.txt')}; exec sleep 3600`;
  const res = await api('POST', '/v1/projects/alpha/instances', {
    kind: 'instance', metadata: { name: 'client' },
    spec: { driver: 'process', isolation: 'none', command: ['/bin/sh', '-c', lookup], resources: { cpu: '20m', memory: '32Mi' }, gracePeriod: 1, placement: { node: NODES[0] } },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const svc = await api('POST', '/v1/projects/alpha/services', {
    kind: 'service', metadata: { name: 'web' },
    spec: {
      replicas: 3,
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          driver: 'process', isolation: 'none', command: [process.execPath, '-e', REPLICA], env: { MARKS: work }, resources: { cpu: '50m', memory: '128Mi' }, gracePeriod: 1,
          health: { http: { port: 8080, path: '/' }, interval: HEALTH_INTERVAL_MS / 1000, timeout: 1 },
          placement: { antiAffinity: [{ selector: 'app=web', topology: 'node', required: true }] },
        },
      },
      ports: [{ name: 'http', port: 80, targetPort: 8080, publish: PUBLISHED }, { name: 'hello', port: 9000 }],
    },
  });
  expect(svc.status, JSON.stringify(svc.body)).toBe(201);
  clientInst = await until('client runs', async () => (await api('GET', '/v1/projects/alpha/instances/client')).body as Inst, (i) => i.status?.phase === 'Running' && i.status.ip !== undefined, 45_000);
  vip = (await until('service address', async () => (await api('GET', '/v1/projects/alpha/services/web')).body as Svc, (s) => s.status?.address !== undefined)).status!.address!;
  await until('three ready replicas', replicas, (rs) => rs.filter(ready).length === 3, 60_000);
}, 150_000);

afterAll(async () => {
  if (skip) return;
  await hosts.stop(async () => {
    await api('DELETE', '/v1/projects/alpha/services/web').catch(() => undefined);
    await api('DELETE', '/v1/projects/alpha/instances/client').catch(() => undefined);
  });
}, 60_000);

type Held = { id?: number; name?: string; echoed?: string; error?: string };

/** The holder script in the client's namespace, one command at a time. */
async function holder(port: number): Promise<{ ask: (cmd: string) => Promise<Held>; stop: () => void }> {
  const child = cluster.run(nsOf(clientInst), [process.execPath, '-e', HOLDER, vip, String(port)], { stdin: true });
  const lines: string[] = [];
  const waiters: ((l: string) => void)[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout! }).on('line', (l) => (waiters.length ? waiters.shift()!(l) : lines.push(l)));
  const ask = async (cmd: string) => {
    child.stdin!.write(`${cmd}\n`);
    const line = lines.length ? lines.shift()! : await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`holder: no answer to ${cmd} (exit ${child.exitCode}): ${stderr}`)), 15_000);
      waiters.push((l) => { clearTimeout(t); resolve(l); });
    });
    return JSON.parse(line) as Held;
  };
  return { ask, stop: () => child.kill('SIGKILL') };
}

describe.skipIf(skip !== undefined)('service load balancing end to end', () => {
  it('gives the service a virtual address in its network and spreads its replicas over the hosts', async () => {
    const net = (await api('GET', '/v1/projects/alpha/networks/default')).body as { status: { cidr: string } };
    expect(vip.split('.').slice(0, 3).join('.')).toBe(net.status.cidr.split('.').slice(0, 3).join('.'));
    const rs = await replicas();
    expect(new Set(rs.map((r) => r.status?.node)).size).toBe(3);
    expect(rs.map((r) => r.status?.ip)).not.toContain(vip);
  });

  it('answers from all three replicas through its address, and by name from another instance of the project', async () => {
    const names = await answersFromAll(`http://${vip}/`);
    expect(await gets(`http://${vip}/`, 9)).toEqual(expect.arrayContaining(names));
    await answersFromAll('http://web/');
    await answersFromAll('http://web.alpha.stratus/');
    // from inside the instance, with the nameserver the agent gave it
    const lookup = await until('the client resolves web', async () => (existsSync(join(work, 'lookup.txt')) ? readFileSync(join(work, 'lookup.txt'), 'utf8') : ''), (t) => t !== '');
    expect(lookup).toContain(vip);
  });

  it('after a replica is killed, no new request fails once one health interval has passed', async () => {
    const names = await answersFromAll(`http://${vip}/`);
    const victim = (await replicas()).find((r) => r.status?.node !== NODES[0])!; // on another host than the client
    process.kill(victim.status!.pid!, 'SIGKILL');
    await sleep(HEALTH_INTERVAL_MS);
    const got = await gets(`http://${vip}/`, 40);
    expect(got.filter((g) => g.startsWith('ERR')), JSON.stringify(got)).toEqual([]);
    // the agent restarts it at once, but it listens only RESTART_DELAY_MS later: the others answered
    expect([...new Set(got)].sort()).toEqual(names.filter((n) => n !== victim.metadata.name));
    await until('the victim restarts', async () => (await replicas()).find((r) => r.metadata.uid === victim.metadata.uid), (r) => (r?.status?.restarts ?? 0) >= 1);
    await answersFromAll(`http://${vip}/`); // back in rotation once it answers
  });

  it('a replica that hangs is out of rotation one interval later, before its own agent marks it unready', async () => {
    const names = await answersFromAll(`http://${vip}/`);
    const victim = (await replicas()).find((r) => r.status?.node === NODES[2])!;
    process.kill(victim.status!.pid!, 'SIGSTOP'); // connections open (the kernel accepts them), nothing answers
    try {
      await sleep(HEALTH_INTERVAL_MS);
      // its agent needs 3 failed checks (>= 2 intervals + a timeout) to say so; host 1's balancer needed one probe
      const latest = (await replicas()).find((r) => r.metadata.uid === victim.metadata.uid)!;
      expect(ready(latest)).toBe(true);
      expect((await hostExec(1, ['nft', 'list', 'ruleset'])).stdout).not.toMatch(ipRe(victim.status!.ip!));
      const got = await gets(`http://${vip}/`, 20);
      expect(got.filter((g) => g.startsWith('ERR')), JSON.stringify(got)).toEqual([]);
      expect([...new Set(got)].sort()).toEqual(names.filter((n) => n !== victim.metadata.name));
    } finally {
      process.kill(victim.status!.pid!, 'SIGCONT');
    }
    await answersFromAll(`http://${vip}/`);
  });

  it('publishes the service port on every host, reachable from outside the hosts', async () => {
    const names = await answersFromAll(`http://${vip}/`);
    for (let n = 1; n <= 3; n++) {
      const url = `http://${underlayOf(n)}:${PUBLISHED}/`;
      const body = await until(`${url} answers`, () => fetch(url, { signal: AbortSignal.timeout(3000) }).then((r) => r.text(), (e: Error) => `ERR ${e.message}`), (b) => !b.startsWith('ERR'));
      expect(names).toContain(body.trim());
    }
    expect(names).toContain((await cluster.httpGets(cluster.hosts[0]!.ns, `http://${underlayOf(2)}:${PUBLISHED}/`, 1, 0, 3000))[0]); // from another host
  });

  it('least-connections: the userspace balancer gives each new connection to the replica with the fewest', async () => {
    const patched = await api('PATCH', '/v1/projects/alpha/services/web', { spec: { loadBalancer: { algorithm: 'least-connections' } } }, { 'content-type': 'application/merge-patch+json' });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    await until('the proxy listens on the address', () => hostExec(1, ['ss', '-Hltn']), (r) => r.stdout.includes(`${vip}:9000`) && r.stdout.includes(`${vip}:80 `));
    await answersFromAll(`http://${vip}/`);
    const h = await holder(9000);
    try {
      const first = [await h.ask('open'), await h.ask('open'), await h.ask('open')];
      expect(new Set(first.map((c) => c.name)).size, JSON.stringify(first)).toBe(3);
      // round-robin would go on to the first replica; least-connections picks the one that has none
      expect((await h.ask(`close ${first[1]!.id}`))).toMatchObject({ closed: first[1]!.id });
      expect((await h.ask('open')).name).toBe(first[1]!.name);
      await h.ask(`close ${first[2]!.id}`);
      expect((await h.ask('open')).name).toBe(first[2]!.name);
    } finally {
      h.stop();
    }
    const names = (await replicas()).map((r) => r.metadata.name);
    expect(names).toContain((await gets(`http://${underlayOf(1)}:${PUBLISHED}/`, 1))[0]); // published ports go through the proxy too
  });

  it('drains a replica the service controller retires: no new connections, the open ones continue', async () => {
    const patch = (spec: unknown) => api('PATCH', '/v1/projects/alpha/services/web', { spec }, { 'content-type': 'application/merge-patch+json' });
    expect((await patch({ loadBalancer: { algorithm: 'round-robin' } })).status).toBe(200); // the kernel path: conntrack keeps what is open
    await until('the proxy stops', () => hostExec(1, ['ss', '-Hltn']), (r) => !r.stdout.includes(`${vip}:9000`));
    await answersFromAll(`http://${vip}/`);
    const h = await holder(9000);
    try {
      const open: Held[] = [];
      while (new Set(open.map((c) => c.name)).size < 3 && open.length < 12) open.push(await h.ask('open'));
      expect(new Set(open.map((c) => c.name)).size, JSON.stringify(open)).toBe(3);
      expect((await patch({ replicas: 2, update: { drainSeconds: 10 } })).status).toBe(200);
      const draining = await until('a replica drains', replicas, (rs) => rs.some((r) => r.status?.conditions?.some((c) => c.type === 'Draining' && c.status === 'True')));
      const gone = draining.find((r) => r.status?.conditions?.some((c) => c.type === 'Draining' && c.status === 'True'))!;
      await until('host 1 stops sending it new connections', () => serviceChains(1), (text) => text.includes('dnat') && !ipRe(gone.status!.ip!).test(text), 8000);
      const fresh = [await h.ask('open'), await h.ask('open'), await h.ask('open'), await h.ask('open')];
      expect(fresh.map((c) => c.name)).not.toContain(gone.metadata.name);
      expect(fresh.every((c) => c.name !== undefined), JSON.stringify(fresh)).toBe(true);
      const held = open.find((c) => c.name === gone.metadata.name)!;
      expect(await h.ask(`echo ${held.id}`)).toEqual({ id: held.id, echoed: 'ping' });
    } finally {
      h.stop();
    }
    await until('two replicas left', replicas, (rs) => rs.length === 2 && rs.every(ready), 30_000);
  });

  it('deleting the service releases its address and leaves no rules behind', async () => {
    expect(serviceLeases().length).toBe(2); // the address and its owner record
    expect((await api('DELETE', '/v1/projects/alpha/services/web')).status).toBe(200);
    await until('replicas gone', replicas, (rs) => rs.length === 0);
    await until('address released', async () => serviceLeases(), (l) => l.length === 0);
    for (let n = 1; n <= 3; n++) {
      await until(`host ${n} forgets the service`, async () => {
        const [rules, addrs, socks] = await Promise.all([hostExec(n, ['nft', 'list', 'ruleset']), hostExec(n, ['ip', '-o', 'addr']), hostExec(n, ['ss', '-Hltn'])]);
        return `${rules.stdout}\n${addrs.stdout}\n${socks.stdout}`;
      }, (text) => !ipRe(vip).test(text) && !text.includes(`dport ${PUBLISHED}`));
    }
    expect((await gets('http://web/', 1))[0]).toMatch(/^ERR /);
    // and once the last instance goes, nothing of ours is left on any host
    expect((await api('DELETE', '/v1/projects/alpha/instances/client')).status).toBe(200);
    for (let n = 1; n <= 3; n++) {
      await until(`host ${n} is clean`, async () => {
        const [rules, links] = await Promise.all([hostExec(n, ['nft', 'list', 'tables']), hostExec(n, ['ip', '-o', 'link', 'show'])]);
        const netns = (await hostRunner.run(['ip', 'netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(prefixOf(n)));
        return { tables: rules.stdout.split('\n').filter((l) => l.includes('stratus')), links: links.stdout.split('\n').filter((l) => /: st[bxv]/.test(l)), netns };
      }, (inv) => inv.tables.length === 0 && inv.links.length === 0 && inv.netns.length === 0);
    }
  });
});
