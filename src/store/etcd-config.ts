/**
 * The etcd store's settings, from its URL and options, and the etcd3 client they make.
 *
 *   etcd://h1:2379,h2:2379,h3:2379[/key-prefix][?option=value...]      etcds://... : TLS
 *   (a host without a port is on 2379)
 *
 * Options (in the query or BackendOptions, not both): `cacert`, `cert`, `key` (PEM files: TLS to
 * etcd, mutual when cert and key are given; any of them means TLS), `prefix` (default /stratus,
 * or the URL's path), `requestTimeoutMs` (default 5000: every request's deadline, retries
 * included), `maxValueBytes` (default 1,400,000: under etcd's default --max-request-bytes of
 * 1.5 MiB with room for the request's framing).
 */
import { readFileSync } from 'node:fs';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import { circuitBreaker, ConsecutiveBreaker, handleWhen, noop } from 'cockatiel';
import { checkOptions, type BackendOptions } from './backend.js';

export interface EtcdConfig {
  /** `host:port` of each member given. */
  hosts: string[];
  tls: boolean;
  /** Every key is stored under it; no trailing slash. */
  prefix: string;
  cacert?: string;
  cert?: string;
  key?: string;
  requestTimeoutMs: number;
  maxValueBytes: number;
}

const KNOWN = ['cacert', 'cert', 'key', 'prefix', 'requestTimeoutMs', 'maxValueBytes'];

/** Reads and checks the settings; throws a readable error on anything wrong or unknown. */
export function etcdConfig(url: URL, options: BackendOptions): EtcdConfig {
  const query = Object.fromEntries(url.searchParams);
  checkOptions('etcd', { ...query, ...options }, KNOWN);
  for (const k of Object.keys(query)) if (k in options) throw new Error(`etcd option "${k}" is given both in the store URL and as an option: give it once`);
  const o: Record<string, unknown> = { ...query, ...options };
  if (url.username || url.password) throw new Error('the etcd store takes no credentials in its URL (use cert and key for TLS client authentication)');
  const hosts = decodeURIComponent(url.host).split(',').map((h) => endpoint(h.trim()));
  const path = decodeURIComponent(url.pathname).replace(/\/+$/, '');
  if (path && o.prefix !== undefined) throw new Error('the etcd key prefix is given both as the URL\'s path and as the prefix option: give it once');
  const prefix = String(o.prefix ?? (path || '/stratus')).replace(/\/+$/, '');
  if (!prefix) throw new Error('the etcd key prefix must not be empty: the store keeps its keys under it (default /stratus)');
  const files = { cacert: file(o.cacert, 'cacert'), cert: file(o.cert, 'cert'), key: file(o.key, 'key') };
  if ((files.cert === undefined) !== (files.key === undefined)) throw new Error('etcd TLS client authentication needs both cert and key');
  return {
    hosts,
    tls: url.protocol === 'etcds:' || Object.values(files).some((f) => f !== undefined),
    prefix,
    ...Object.fromEntries(Object.entries(files).filter(([, v]) => v !== undefined)),
    requestTimeoutMs: positive(o.requestTimeoutMs, 'requestTimeoutMs', 5000),
    maxValueBytes: positive(o.maxValueBytes, 'maxValueBytes', 1_400_000),
  };
}

/** `host:port` (port 2379 when none is given); throws on anything else. */
function endpoint(h: string): string {
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i.exec(h);
  const port = Number(m?.[2] ?? 2379);
  if (!m || port < 1 || port > 65535) throw new Error(`etcd endpoint ${JSON.stringify(h)} is not host:port (e.g. etcd://10.0.0.1:2379,10.0.0.2:2379)`);
  return `${m[1]}:${port}`;
}

function file(v: unknown, name: string): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw new Error(`etcd option ${name} is a file path, not ${JSON.stringify(v)}`);
  return v;
}

function positive(v: unknown, name: string, fallback: number): number {
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`etcd option ${name} must be a whole number ≥ 1, not ${JSON.stringify(v)}`);
  return n;
}

/** etcd's require-leader metadata (what its Go client's WithRequireLeader sends). */
const requireLeader: Interceptor = (options, next) => new InterceptingCall(next(options), {
  start: (metadata, listener, start) => {
    metadata.set('hasleader', 'true');
    start(metadata, listener);
  },
});

/**
 * An etcd3 client for `hosts`. Retries are ours (etcd-calls.ts: bounded by each request's
 * deadline, writes only when they cannot have been applied), so etcd3's global retry is off; a
 * member that fails twice in a row is skipped for a second (its circuit breaker).
 */
export function etcdClient(config: EtcdConfig, hosts: string[] = config.hosts): Etcd3 {
  const read = (path: string | undefined, what: string) => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (e) {
      throw new Error(`cannot read the etcd ${what} ${path}: ${(e as Error).message}`);
    }
  };
  const options: IOptions = {
    hosts: hosts.map((h) => `${config.tls ? 'https' : 'http'}://${h}`),
    grpcOptions: {
      // values up to maxValueBytes, many per range page or watch response
      'grpc.max_receive_message_length': -1,
      // find a dead member under an open watch stream (etcd refuses pings more often than every 5 s)
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
    },
    // every call and stream asks for a member with a leader: one cut off from the others answers
    // "no leader" at once (and its watch streams end) instead of waiting, so another is tried
    defaultCallOptions: { interceptors: [requireLeader] },
    faultHandling: {
      global: noop,
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(2) }),
    },
  };
  if (config.tls) {
    // etcd3 types the root certificate as required; grpc takes null for the system's CAs
    options.credentials = { rootCertificate: read(config.cacert, 'CA certificate (cacert)') as Buffer, privateKey: read(config.key, 'client key (key)'), certChain: read(config.cert, 'client certificate (cert)') };
  }
  return new Etcd3(options);
}
