/**
 * `stratus server`: the control plane in one process.
 *
 *   store ─▶ repository ─▶ API (auth, audit, admission)
 *                     └──▶ scheduler loop, controllers (leader only)     [+ embedded agent]
 *
 * startServer() is also what integration tests call to get a real server on a random port.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { compactKeeping, openBackend, type Backend } from '../store/index.js';
import { Repository } from '../store/repository.js';
import { buildApi } from '../api/server.js';
import { Authenticator } from '../policy/auth.js';
import { AuditLog, DEFAULT_AUDIT_RETENTION } from '../policy/audit.js';
import { Admission, type AdmissionPlugin } from '../policy/admission.js';
import { admissionChecks } from '../policy/admission-checks.js';
import { SecretBox, SECRET_KEY_FILE } from '../policy/secret-box.js';
import { SecretData, secretJanitor } from '../policy/secret-data.js';
import { checkSharedSecretKeys } from '../policy/secret-keys-shared.js';
import { QuotaTracker } from '../policy/quota.js';
import { BlobStore } from '../store/blobs.js';
import { systemClock, randomIds, type Clock, type Ids } from '../model/runtime.js';
import { VERSION } from '../version.js';
import { bootstrap, finishBootstrap, type BootstrapResult } from './bootstrap.js';
import { DEFAULT_HTTP_LIMITS, httpLimits, type HttpLimits } from './http-limits.js';
import { privateDir } from '../store/private.js';
import { Runner, every, type Component } from '../runtime/component.js';
import { Informers } from '../runtime/informers.js';
import { ServerRegistry } from '../runtime/servers.js';
import { UsageHistory } from '../runtime/usage.js';
import { ServerMetrics } from './metrics.js';
import { metricsRoute, readMetricsToken } from './metrics-route.js';
import { compactRoute } from './compact-route.js';
import { uiRoutes } from './ui.js';

export interface ServerConfig {
  dataDir: string;
  port: number;
  listen: string;
  /** Store URL; default sqlite://<dataDir>/stratus.db; etcd://h1:2379,h2:2379,h3:2379 for several servers. */
  store?: string;
  /** TLS to etcd: the CA that signed its certificates, and this server's client certificate and key. */
  etcd?: { cacert?: string; cert?: string; key?: string };
  /** This server's name among the servers sharing the store (default: host name and port). */
  name?: string;
  /** The URL clients and agents reach this server at, as `stratus get servers` shows it (default: the listening address). */
  advertiseUrl?: string;
  storeSync?: 'full' | 'normal';
  bootstrapToken?: string;
  logLevel?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** Request, header, keep-alive and idle timeouts; unauthenticated connections per address. */
  http?: Partial<HttpLimits>;
  /** In-flight requests get this long to finish on shutdown before their connections are cut. */
  shutdownGraceMs?: number;
  /** Revisions of history kept for watches. */
  retainRevisions?: number;
  /** Audit entries kept: at most this many (default 1,000,000), none older than this (ms, default 30 days). */
  auditMaxEntries?: number;
  auditMaxAgeMs?: number;
  /** Host ports instances and services may publish (default 30000-32767); projects may be allowed more. */
  nodePortRange?: [number, number];
  clock?: Clock;
  ids?: Ids;
  /** More components (scheduler, controllers, agent), built once the API exists. */
  components?: (ctx: ServerContext) => Component[];
  admissionPlugins?: AdmissionPlugin[];
  plugins?: Parameters<typeof buildApi>[0]['plugins'];
  /** A file holding a bearer secret that may read /metrics (and nothing else), for Prometheus. */
  metricsTokenFile?: string;
}

export interface ServerContext {
  config: ServerConfig;
  backend: Backend;
  repo: Repository;
  audit: AuditLog;
  /** The checks API writes pass; controllers that create objects for users run them too. */
  admission: Admission;
  /** Secret values, sealed at rest: what deletes a secret deletes them in the same transaction. */
  secrets: SecretData;
  /** The server's shared informers (runtime/informers.ts): the auth cache and quota use them on every server, the leader's components too. */
  informers: Informers;
  url: string;
  /** Who this server is in leader elections (host/pid/random), unique per process. */
  identity: string;
  /** The nodes' usage reports and their recent history (runtime/usage.ts): the usage routes, /metrics and the autoscaler read it. */
  usage: UsageHistory;
  /** This server's Prometheus metrics (GET /metrics): components report to its observers. */
  metrics: ServerMetrics;
  /** What each project's quotas have in use, creates in flight included: the quota admission and the service autoscaler's cap read it. */
  quota: QuotaTracker;
}

export interface RunningServer extends ServerContext {
  app: FastifyInstance;
  bootstrap: BootstrapResult;
  stop(): Promise<void>;
}

export { defaultDataDir } from './defaults.js';

/** The store a server of this config opens: --store, or the SQLite file in the data dir. */
export function storeUrlOf(config: Pick<ServerConfig, 'dataDir' | 'store'>): string {
  return config.store ?? `sqlite://${join(resolve(config.dataDir), 'stratus.db')}`;
}

export async function startServer(config: ServerConfig): Promise<RunningServer> {
  const clock = config.clock ?? systemClock;
  const ids = config.ids ?? randomIds;
  // The data dir holds the store, blobs and the embedded agent's credential: its owner's only.
  privateDir(resolve(config.dataDir));
  const storeUrl = storeUrlOf(config);
  const metricsToken = config.metricsTokenFile ? readMetricsToken(config.metricsTokenFile) : undefined;
  const metrics = new ServerMetrics();
  const backend = metrics.timedBackend(await openBackend(storeUrl, storeOptions(storeUrl, config)));
  const runner = new Runner();
  try {
    const repo = new Repository(backend, clock, ids);
    const boot = await bootstrap(repo, config.bootstrapToken);
    // one informer per kind, shared by everything this server runs (each starts with its first user, stops with its last)
    const informers = new Informers(repo);
    const auth = new Authenticator(repo, clock, informers);
    await auth.start();
    const audit = new AuditLog(backend, clock, ids);
    const quota = new QuotaTracker(repo, undefined, informers);
    const usage = new UsageHistory(informers, { clock });
    // Each kind names its checks (model/kinds/*.ts `admission`); admissionChecks binds them.
    const admission = new Admission(repo, config.admissionPlugins ?? [], admissionChecks({ quota: quota.admission, nodePortRange: config.nodePortRange }));
    const blobs = new BlobStore(join(resolve(config.dataDir), 'blobs'));
    blobs.secure();
    // Secret values are sealed with the keys of this file (created on first start, mode 0600).
    const box = await SecretBox.open(join(resolve(config.dataDir), SECRET_KEY_FILE), (m) => console.error(`warning: ${m}`));
    // servers sharing a store must share the key file too: refuse to start with another one
    await checkSharedSecretKeys(repo, box);
    const secrets = new SecretData(repo, box);
    const limits = httpLimits({ ...DEFAULT_HTTP_LIMITS, ...config.http }, Boolean(config.tlsCert && config.tlsKey));
    const app = await buildApi({
      repo, auth, audit, clock, ids, admission, blobs, secrets, version: VERSION,
      ready: () => runner.readiness(),
      informers, usage,
      logger: { level: config.logLevel ?? 'warn' },
      plugins: [...(config.plugins ?? []), metricsRoute(metrics, metricsToken), compactRoute, uiRoutes],
      onResponse: metrics.onResponse,
      onAuthenticated: limits.onAuthenticated,
      ...(config.tlsCert && config.tlsKey ? { https: readTls(config.tlsCert, config.tlsKey) } : {}),
    });
    limits.attach(app);
    const https = config.tlsCert && config.tlsKey;
    const scheme = https ? 'https' : 'http';
    const identity = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
    const ctx: ServerContext = { config, backend, repo, audit, admission, secrets, informers, url: '', identity, metrics, usage, quota };
    metrics.attach({ app, repo, informers, usage });
    const apiComponent: Component = {
      name: 'api',
      start: async () => {
        await app.listen({ port: config.port, host: config.listen });
        const addr = app.server.address();
        const port = typeof addr === 'object' && addr ? addr.port : config.port;
        const host = config.listen === '0.0.0.0' || config.listen === '::' ? '127.0.0.1' : config.listen.includes(':') ? `[${config.listen}]` : config.listen;
        ctx.url = `${scheme}://${host}:${port}`;
      },
      stop: async () => {
        auth.stop();
        // Watch streams end first (preClose); requests still running after the grace are cut.
        const cut = setTimeout(() => app.server.closeAllConnections(), config.shutdownGraceMs ?? 5000);
        cut.unref();
        await app.close().finally(() => clearTimeout(cut));
      },
    };
    const registry = new ServerRegistry(repo, () => ({
      name: config.name ?? `${hostname()}-${new URL(ctx.url).port}`,
      url: config.advertiseUrl ?? ctx.url,
      version: VERSION,
      identity,
      startedAt: new Date(clock.now()).toISOString(),
    }));
    await runner.start([maintenance(backend, audit, config), quota, secretJanitor(secrets), usage, apiComponent, registry, metrics.component()]);
    await runner.start(config.components?.(ctx) ?? []);
    // Only now is the cluster created for good: a first start that failed before this point did
    // not show its admin token, and the next one shows a new one.
    await finishBootstrap(repo, boot);
    return {
      ...ctx,
      get url() { return ctx.url; },
      app,
      bootstrap: boot,
      stop: async () => {
        await runner.stop();
        await backend.close();
      },
    };
  } catch (e) {
    await runner.stop();
    await backend.close();
    throw e;
  }
}

/** The backend's options from the server's config: sqlite's sync mode, etcd's TLS files. */
export function storeOptions(storeUrl: string, config: Pick<ServerConfig, 'storeSync' | 'etcd'>): Record<string, unknown> {
  if (storeUrl.startsWith('sqlite:')) return config.storeSync ? { sync: config.storeSync } : {};
  if (/^etcds?:/.test(storeUrl)) return Object.fromEntries(Object.entries(config.etcd ?? {}).filter(([, v]) => v !== undefined));
  return {};
}

/** Compacts watch history and applies the audit retention (at start, then every minute). */
function maintenance(backend: Backend, audit: AuditLog, config: ServerConfig): Component {
  let loop: { stop(): void } | undefined;
  const retain = config.retainRevisions ?? 100_000;
  const auditRetention = {
    maxEntries: config.auditMaxEntries ?? DEFAULT_AUDIT_RETENTION.maxEntries,
    maxAgeMs: config.auditMaxAgeMs ?? DEFAULT_AUDIT_RETENTION.maxAgeMs,
  };
  return {
    name: 'maintenance',
    start: async () => {
      // At once too: a server restarted with a shorter retention applies it without waiting.
      void audit.sweep(auditRetention).catch((e: Error) => console.error(`maintenance: ${e.message}`));
      loop = every(60_000, async () => {
        await compactKeeping(backend, retain);
        await audit.sweep(auditRetention);
      }, (e) => console.error(`maintenance: ${(e as Error).message}`));
    },
    stop: async () => loop?.stop(),
  };
}

/** Reads TLS material for Fastify; kept apart so tests can skip it. */
export function readTls(cert: string, key: string): { cert: Buffer; key: Buffer } {
  return { cert: readFileSync(cert), key: readFileSync(key) };
}
