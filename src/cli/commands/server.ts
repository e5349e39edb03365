/** `stratus server`: its flags. What it runs (server-run.ts) loads only when it runs. */
import { Option, InvalidArgumentError, type Command } from 'commander';
import { defaultDataDir } from '../../server/defaults.js';
import { addAgentOptions } from '../agent-options.js';
import { addHttpOptions } from './server-lifecycle.js';
import { parseDuration } from '../../model/format.js';
import { parsePortRanges } from '../../model/kinds/project.js';

export function registerServer(program: Command): void {
  const cmd = program
    .command('server')
    .description('Run the control plane (API, store, scheduler, controllers) with an embedded agent.')
    .addOption(new Option('--data-dir <dir>', 'where the store and state live').env('STRATUS_DATA_DIR').default(defaultDataDir()))
    .addOption(new Option('--port <n>', 'TCP port of the API').env('STRATUS_PORT').default(7070).argParser(port))
    .addOption(new Option('--listen <addr>', 'address to listen on (0.0.0.0 for every interface)').env('STRATUS_LISTEN').default('127.0.0.1'))
    .addOption(new Option('--store <url>', 'store URL: sqlite:///path/stratus.db (default: in the data dir), memory:, or etcd://h1:2379,h2:2379,h3:2379 for several servers (docs/ha.md)').env('STRATUS_STORE'))
    .addOption(new Option('--etcd-cacert <file>', 'etcd: the CA certificate its servers present (TLS)').env('STRATUS_ETCD_CACERT'))
    .addOption(new Option('--etcd-cert <file>', 'etcd: this server\'s client certificate (with --etcd-key)').env('STRATUS_ETCD_CERT'))
    .addOption(new Option('--etcd-key <file>', 'etcd: the private key of --etcd-cert').env('STRATUS_ETCD_KEY'))
    .addOption(new Option('--name <name>', 'this server\'s name among the servers sharing the store (default: host name and port)').env('STRATUS_SERVER_NAME'))
    .addOption(new Option('--advertise-url <url>', 'the URL clients and agents reach this server at (default: the listening address)').env('STRATUS_ADVERTISE_URL').argParser(httpUrl))
    .addOption(new Option('--leader-ttl <seconds>', 'the leader\'s lease: a dead leader is replaced within about this long (default: 3 on etcd, 10 otherwise)').argParser(positiveInt))
    .addOption(new Option('--store-sync <mode>', 'sqlite durability: full (fsync every commit) or normal (survives process crashes, not power loss)').choices(['full', 'normal']).default('full'))
    .addOption(new Option('--bootstrap-token <token>', 'first admin token, instead of a random one (first start only; at least 16 characters)').env('STRATUS_BOOTSTRAP_TOKEN'))
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('warn'))
    .addOption(new Option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (with --tls-key)'))
    .addOption(new Option('--tls-key <file>', 'PEM private key for --tls-cert'))
    .addOption(new Option('--scheduler-policy <policy>', 'cluster placement policy (auto: fgd where GPUs are involved, else binpack; fgd-sc: FGD weighted by the scarcity of each shape, see docs/benchmarks.md)').choices(['auto', 'binpack', 'spread', 'fgd', 'fgd-sc']).default('auto'))
    .addOption(new Option('--node-timeout <duration>', 'a node that misses heartbeats this long is Down and its instances move').default(10_000, '10s').argParser(duration))
    .addOption(new Option('--event-ttl <duration>', 'how long events are kept').default(3_600_000, '1h').argParser(duration))
    .addOption(new Option('--no-scheduler', 'do not run the scheduler (another server does)'))
    .addOption(new Option('--budget-interval <duration>', 'how often the leader computes budgets\' month-to-date cost').default(60_000, '1m').argParser(duration))
    .addOption(new Option('--audit-retention <duration>', 'how long audit entries are kept').default(30 * 86_400_000, '30d').argParser(duration))
    .addOption(new Option('--metering-retention <duration>', 'how long metered hours (cost reports) are kept').default(400 * 86_400_000, '400d').argParser(duration))
    .addOption(new Option('--metering-flush <duration>', 'how often the leader writes what it metered (and at each new hour)').default(60_000, '1m').argParser(duration))
    .addOption(new Option('--audit-max-entries <n>', 'most audit entries kept (the oldest go first)').default(1_000_000).argParser(positiveInt))
    .addOption(new Option('--node-port-range <range>', 'host ports instances and services may publish (a cluster admin may allow a project more: project spec.hostPorts)').default([30000, 32767], '30000-32767').argParser(portRange))
    .addOption(new Option('--reset-admin-token', 'recovery: with the server stopped, make the admin user a cluster admin again, print a new token for it, and exit'))
    .addOption(new Option('--no-agent', 'do not run an agent for this machine inside the server'));
  addAgentOptions(addHttpOptions(cmd))
    // The server, its controllers and agent load only when it runs: `stratus get` does not pay for them.
    .action(async (opts: Record<string, unknown>) => (await import('./server-run.js')).runServer(opts));
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${v}" is not a TCP port (0-65535)`);
  return n;
}

function duration(v: string): number {
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError(`"${v}" is not a duration (use e.g. 500ms, 10s, 5m, 1h)`);
  return ms;
}

/** "30000-32767" → [30000, 32767]. */
function portRange(v: string): [number, number] {
  const ranges = parsePortRanges(v);
  if (ranges?.length !== 1) throw new InvalidArgumentError(`"${v}" is not a port range (use LOW-HIGH, e.g. 30000-32767)`);
  return ranges[0]!;
}

function httpUrl(v: string): string {
  let url: URL | undefined;
  try {
    url = new URL(v);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new InvalidArgumentError(`"${v}" is not an http(s) URL`);
  return v.replace(/\/+$/, '');
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`"${v}" is not a positive integer`);
  return n;
}
