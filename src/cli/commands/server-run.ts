/**
 * What `stratus server` runs, loaded only then: the config from its flags, the ready banner (with
 * what this machine lacks for its own agent, and the command that adds it), and a clean shutdown
 * on SIGINT/SIGTERM (server-lifecycle.ts).
 */
import { startServer, type RunningServer, type ServerConfig } from '../../server/main.js';
import { serverComponents } from '../../server/components.js';
import { CliError } from '../errors.js';
import { StoreUnavailable } from '../../store/backend.js';
import { agentOptionsFrom } from '../agent-config.js';
import { httpLimitsFrom, runUntilSignal } from './server-lifecycle.js';
import { resetAdminToken } from '../../server/reset-admin.js';
import { nodeKind } from '../../model/kinds/index.js';
import type { Node } from '../../model/kinds/node.js';
import { INSTALL_DEPS, missingHostPackages } from '../host-check.js';

export async function runServer(opts: Record<string, unknown>): Promise<void> {
  if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new CliError('--tls-cert and --tls-key go together', 2);
  if (Boolean(opts.etcdCert) !== Boolean(opts.etcdKey)) throw new CliError('--etcd-cert and --etcd-key go together', 2);
  const store = opts.store as string | undefined;
  if ((opts.etcdCacert || opts.etcdCert) && !/^etcds?:/.test(store ?? '')) throw new CliError('--etcd-cacert/--etcd-cert/--etcd-key need --store etcd://...', 2);
  if (opts.resetAdminToken) return resetAdmin(opts.dataDir as string, opts.store as string | undefined);
  const agent = opts.agent !== false ? agentOptionsFrom(opts) : undefined;
  const config: ServerConfig = {
    dataDir: opts.dataDir as string,
    port: opts.port as number,
    listen: opts.listen as string,
    store,
    etcd: { cacert: opts.etcdCacert as string | undefined, cert: opts.etcdCert as string | undefined, key: opts.etcdKey as string | undefined },
    name: opts.name as string | undefined,
    advertiseUrl: opts.advertiseUrl as string | undefined,
    storeSync: opts.storeSync as 'full' | 'normal',
    bootstrapToken: opts.bootstrapToken as string | undefined,
    logLevel: opts.logLevel as string,
    tlsCert: opts.tlsCert as string | undefined,
    tlsKey: opts.tlsKey as string | undefined,
    http: httpLimitsFrom(opts),
    auditMaxAgeMs: opts.auditRetention as number,
    auditMaxEntries: opts.auditMaxEntries as number,
    nodePortRange: opts.nodePortRange as [number, number],
    ...(opts.metricsTokenFile ? { metricsTokenFile: opts.metricsTokenFile as string } : {}),
    components: serverComponents({
      scheduler: opts.scheduler !== false,
      policy: opts.schedulerPolicy as string,
      nodeTimeoutMs: opts.nodeTimeout as number,
      eventTtlMs: opts.eventTtl as number,
      budgetIntervalMs: opts.budgetInterval as number,
      metering: { retentionDays: (opts.meteringRetention as number) / 86_400_000, flushMs: opts.meteringFlush as number },
      ...(opts.leaderTtl ? { leaderTtlSeconds: opts.leaderTtl as number } : {}),
      ...(agent ? { agent } : {}),
    }),
  };
  // A promise nobody awaited failed (a bug, e.g. a store error on a best-effort path): said
  // loudly, but the control plane keeps serving rather than dying on a store that blinked.
  process.on('unhandledRejection', (e) => console.error(`stratus server: internal error (a bug, please report it): ${(e as Error)?.stack ?? String(e)}`));
  const server = await startWaitingForStore(config);
  // Listen for signals before saying "ready": a SIGTERM right after would otherwise kill it outright.
  const stopped = runUntilSignal(server);
  printBanner(server.url, config, server.bootstrap.adminToken, agent ? await missingHere(server, agent.name) : []);
  await stopped;
}

/**
 * Starts the server; a store that does not answer yet (etcd starting, or without quorum) is waited
 * for, up to about a minute, saying so, as servers and etcd members often start together.
 */
async function startWaitingForStore(config: ServerConfig): Promise<RunningServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServer(config);
    } catch (e) {
      if (!(e instanceof StoreUnavailable) || attempt >= 12) throw new CliError(`the server did not start: ${(e as Error).message}`);
      console.error(`stratus server: the store does not answer yet (${e.message}); trying again in 5 s`);
      await new Promise((r) => setTimeout(r, 5_000));
    }
  }
}

/** What the server's own agent found missing on this machine (its node's drivers and networking). */
async function missingHere(server: RunningServer, node: string): Promise<string[]> {
  const found = await server.repo.find<Node>(nodeKind, node).catch(() => undefined);
  return found ? missingHostPackages(found) : [];
}

function printBanner(url: string, config: ServerConfig, adminToken: string | undefined, missing: string[]): void {
  const lines = [
    `Stratus server is ready at ${url}`,
    `  data dir:  ${config.dataDir}`,
    `  store:     ${config.store ?? `sqlite (${config.dataDir}/stratus.db)`}`,
    `  dashboard: ${url}/ui`,
    `  API docs:  ${url}/docs`,
  ];
  if (missing.length > 0) {
    lines.push(`  missing:   ${missing[0]}`, ...missing.slice(1).map((m) => `             ${m}`), `             add them with: ${INSTALL_DEPS}`);
  }
  if (adminToken) {
    lines.push(
      '',
      'This is a new cluster. Admin token (shown only now; the server keeps only its hash):',
      `  ${adminToken}`,
      '',
      'Log in with:',
      `  npx stratus login --server ${url} --token ${adminToken}`,
    );
  } else {
    lines.push('  (existing cluster: use your saved login, or a token an admin gave you)');
  }
  process.stdout.write(lines.join('\n') + '\n');
}

/** `--reset-admin-token`: opens the store itself (refused while a server holds it), prints the new token. */
async function resetAdmin(dataDir: string, store: string | undefined): Promise<void> {
  const token = await resetAdminToken({ dataDir, ...(store ? { store } : {}) }).catch((e: Error) => {
    throw new CliError(`cannot reset the admin token: ${e.message}`);
  });
  process.stdout.write([
    `New admin token for user "${token.user}" (token ${token.name}; shown only now, recorded in the audit log):`,
    `  ${token.secret}`,
    '',
  ].join('\n'));
}

