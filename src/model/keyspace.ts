/**
 * The store's keyspace: every key and prefix Stratus writes is built here and nowhere else.
 *
 *   /registry/<plural>/<name>                               an object of a cluster kind
 *   /registry/<plural>/<project>/<name>                     an object of a project kind
 *   /internal/token-hashes/<sha256 hex>                     → {token}: a bearer secret's lookup (policy/auth.ts)
 *   /internal/token-names/<token>                           → {hash}: revocation, node signing keys (policy/tokens.ts)
 *   /internal/secret-data/<project>/<name>                  a secret's sealed values (policy/secret-data.ts)
 *   /internal/secret-keys                                   → the key ids and fingerprints servers seal with (policy/secret-keys-shared.ts)
 *   /internal/guards/cluster-admins                         where writes that change who is a cluster admin meet
 *   /internal/bootstrapped                                  the cluster's first start happened (server/bootstrap.ts)
 *   /internal/leader/<name>                                 → {holder}: who leads, bound to its lease (runtime/leader.ts)
 *   /internal/servers/<name>                                → a running server (URL, version), bound to its lease (server/registry.ts)
 *   /internal/usage/nodes/<node>                            → a node's latest usage report, one write per report (api/routes/usage.ts)
 *   /internal/metering/hours/<hour>/p/<project>/<shard>     → a project's metered instances and volumes in one UTC hour, with
 *                                                             the meter's last counters per run (runtime/metering.ts)
 *   /internal/metering/hours/<hour>/n/<shard>               → the nodes' metered capacity in one UTC hour
 *   /internal/metering/days/<day>/{done,n/<shard>,p/<project>/<shard>} → a settled UTC day's hours summed (rollups)
 *   /internal/ipam/networks/<project>/<network>             a network's allocation (controllers/network/ipam.ts)
 *   /internal/ipam/blocks/<a.b.c.0>                         a claimed block of address space
 *   /internal/ipam/vnis/<vni>                               a claimed VXLAN id
 *   /internal/ipam/addresses/<project>/<network>/<ip>       a granted address → its owner
 *   /internal/ipam/owners/<project>/<network>/<kind>/<name> an owner → its address
 *   /scheduler/ledger/<node>                                the compare-and-swap point of a node's bindings (scheduler/applier.ts)
 *   /audit/<time>-<server>-<seq>                            an audit record (policy/audit.ts)
 *
 * Keys and prefixes are branded strings: the store's record helpers (store/records.ts) take only
 * what this module built, so a literal key elsewhere does not typecheck. Pure; no I/O.
 */

declare const brand: unique symbol;
/** One store key, built by this module. */
export type Key = string & { readonly [brand]: 'key' };
/** A store prefix (ends with "/"), built by this module. */
export type Prefix = string & { readonly [brand]: 'prefix' };

const key = (s: string) => s as Key;
const prefix = (s: string) => s as Prefix;
/** The segments of `k` after `p`, split at "/". */
const rest = (p: Prefix, k: string): string[] => k.slice(p.length).split('/');

/** Objects of kinds: what the repository (store/repository.ts) reads and writes. */
export const objectKeys = {
  /** Every object of every kind. */
  all: prefix('/registry/'),
  /** Every object of the kind, or (project kinds, with a project) those of one project. */
  prefix(kind: { plural: string; scope: 'cluster' | 'project' }, project?: string): Prefix {
    if (kind.scope === 'cluster' || project === undefined) return prefix(`/registry/${kind.plural}/`);
    return prefix(`/registry/${kind.plural}/${project}/`);
  },
  key(kind: { kind: string; plural: string; scope: 'cluster' | 'project' }, name: string, project?: string): Key {
    if (kind.scope === 'project' && !project) throw new Error(`${kind.kind} needs a project`);
    return key(kind.scope === 'cluster' ? `/registry/${kind.plural}/${name}` : `/registry/${kind.plural}/${project}/${name}`);
  },
};

const TOKEN_HASHES = prefix('/internal/token-hashes/');
const TOKEN_NAMES = prefix('/internal/token-names/');

/** A token's hash entry names the token; its name entry holds the hash (to delete both on revocation). */
export const tokenKeys = {
  hashes: TOKEN_HASHES,
  byHash: (sha256Hex: string) => key(TOKEN_HASHES + sha256Hex),
  names: TOKEN_NAMES,
  byName: (token: string) => key(TOKEN_NAMES + token),
};

const SECRET_DATA = prefix('/internal/secret-data/');

/** The sealed values of secrets, one record beside each secret object. */
export const secretDataKeys = {
  prefix: SECRET_DATA,
  key: (project: string, name: string) => key(`${SECRET_DATA}${project}/${name}`),
  /** The secret a record key belongs to. */
  parse(k: string): { project: string; name: string } {
    const [project, name] = rest(SECRET_DATA, k) as [string, string];
    return { project, name };
  },
};

/** Keys that guard an invariant across writers: a write carries a compare-and-swap on it. */
export const guardKeys = {
  clusterAdmins: key('/internal/guards/cluster-admins'),
};

/** Which secret keys the servers sharing the store seal with: ids and fingerprints, never the keys (policy/secret-keys-shared.ts). */
export const secretKeysKey = key('/internal/secret-keys');

/** Written once, by the first start of a cluster's first server. */
export const bootstrapKey = key('/internal/bootstrapped');

const LEADER = prefix('/internal/leader/');

/** Leader election: the key the leader holds, bound to its lease (runtime/leader.ts). */
export const leaderKeys = {
  prefix: LEADER,
  key: (name: string) => key(LEADER + name),
};

const SERVERS = prefix('/internal/servers/');

/** The servers sharing the store, each key bound to its server's lease (server/registry.ts). */
export const serverKeys = {
  prefix: SERVERS,
  key: (name: string) => key(SERVERS + name),
};

const USAGE_NODES = prefix('/internal/usage/nodes/');

/** Each node's latest usage report (model/usage.ts), overwritten by each report; servers keep the history in memory (runtime/usage.ts). */
export const usageKeys = {
  prefix: USAGE_NODES,
  key: (node: string) => key(USAGE_NODES + node),
  nodeOf: (k: string) => k.slice(USAGE_NODES.length),
};

const METERING_HOURS = prefix('/internal/metering/hours/');

/**
 * Metered hours (model/metering.ts): keys sort by hour (ISO start, fixed width), then project
 * records (`p`), then node records (`n`); a shard number (0, 1, ...) bounds each record's size.
 */
export const meteringKeys = {
  prefix: METERING_HOURS,
  /** Every record of one hour. */
  hour: (hour: string) => prefix(`${METERING_HOURS}${hour}/`),
  project: (hour: string, project: string, shard: number) => key(`${METERING_HOURS}${hour}/p/${project}/${shard}`),
  nodes: (hour: string, shard: number) => key(`${METERING_HOURS}${hour}/n/${shard}`),
  /** A key before every record of `hour` and after those of earlier hours (for `startAfter`). */
  before: (hour: string) => `${METERING_HOURS}${hour}`,
  /** What a record key names, or undefined for a key of another shape. */
  parse(k: string): { hour: string; project?: string; shard: number } | undefined {
    const [hour, kind, a, b] = rest(METERING_HOURS, k);
    if (!hour) return undefined;
    if (kind === 'p' && a && b !== undefined) return { hour, project: a, shard: Number(b) };
    if (kind === 'n' && a !== undefined) return { hour, shard: Number(a) };
    return undefined;
  },
};

const METERING_DAYS = prefix('/internal/metering/days/');

/**
 * Daily rollups of the metered hours (runtime/metering-daily.ts): per UTC day, a `done` marker
 * (written last: a day without it is read from its hours), then node records (`n`), then project
 * records (`p`), sharded like the hours'.
 */
export const meteringDayKeys = {
  prefix: METERING_DAYS,
  /** Every record of one day. */
  day: (day: string) => prefix(`${METERING_DAYS}${day}/`),
  done: (day: string) => key(`${METERING_DAYS}${day}/done`),
  project: (day: string, project: string, shard: number) => key(`${METERING_DAYS}${day}/p/${project}/${shard}`),
  nodes: (day: string, shard: number) => key(`${METERING_DAYS}${day}/n/${shard}`),
  /** A key before every record of `day` and after those of earlier days (for `startAfter`). */
  before: (day: string) => `${METERING_DAYS}${day}`,
  /** What a record key names, or undefined for a key of another shape. */
  parse(k: string): { day: string; done?: true; project?: string; shard: number } | undefined {
    const [day, kind, a, b] = rest(METERING_DAYS, k);
    if (!day) return undefined;
    if (kind === 'done' && a === undefined) return { day, done: true, shard: 0 };
    if (kind === 'p' && a && b !== undefined) return { day, project: a, shard: Number(b) };
    if (kind === 'n' && a !== undefined) return { day, shard: Number(a) };
    return undefined;
  },
};

const IPAM_NETWORKS = prefix('/internal/ipam/networks/');
const IPAM_BLOCKS = prefix('/internal/ipam/blocks/');
const IPAM_VNIS = prefix('/internal/ipam/vnis/');

/** Address management: networks' ranges and VNIs, and the addresses granted in them. */
export const ipamKeys = {
  /** Every record of address management. */
  all: prefix('/internal/ipam/'),
  /** Every network's allocation. */
  networks: IPAM_NETWORKS,
  network: (project: string, network: string) => key(`${IPAM_NETWORKS}${project}/${network}`),
  blocks: IPAM_BLOCKS,
  block: (base: string) => key(IPAM_BLOCKS + base),
  /** The block base of a block key. */
  blockOf: (k: string) => k.slice(IPAM_BLOCKS.length),
  vni: (vni: number) => key(`${IPAM_VNIS}${vni}`),
  /** The addresses granted in a network; each key ends with the address. */
  addresses: (project: string, network: string) => prefix(`/internal/ipam/addresses/${project}/${network}/`),
  address: (project: string, network: string, ip: string) => key(`/internal/ipam/addresses/${project}/${network}/${ip}`),
  /** The owners of addresses in a network. */
  owners: (project: string, network: string) => prefix(`/internal/ipam/owners/${project}/${network}/`),
  owner: (project: string, network: string, kind: string, name: string) => key(`/internal/ipam/owners/${project}/${network}/${kind}/${name}`),
  /** The last segment of a key (an address, a block base). */
  last: (k: string) => k.slice(k.lastIndexOf('/') + 1),
};

const LEDGER = prefix('/scheduler/ledger/');

/** One key per node that schedulers compare-and-swap with each batch of bindings they commit there. */
export const ledgerKeys = {
  prefix: LEDGER,
  key: (node: string) => key(LEDGER + node),
  nodeOf: (k: string) => k.slice(LEDGER.length),
};

const AUDIT = prefix('/audit/');

/** Audit records; ids start with their time (zero-padded epoch ms), so keys sort by time. */
export const auditKeys = {
  prefix: AUDIT,
  key: (id: string) => key(AUDIT + id),
};
