/**
 * The etcd backend's snapshot(), load() and status() (the contract is in backend.ts).
 *
 * snapshot: pages of 256 keys, every page after the first read at the first one's revision, so
 *   the whole is etcd's state at that revision while writes go on (until compaction passes it).
 * load: refuses a prefix that holds a key; creates the items in transactions of at most 128 ops
 *   (etcd's default --max-txn-ops) and maxValueBytes. Not atomic as a whole: a load that fails
 *   half-way leaves what it wrote (a new load is then refused: clear the prefix first).
 * status: etcd's members (MemberList, answered without a quorum) and, for each, Status asked of
 *   that member alone.
 */
import type { IMember, IRangeResponse } from 'etcd3';
import { StoreUnavailable, TxnConflict, type ExportedKeyValue, type LoadItem, type StoreStatus, type TxnOp } from './backend.js';
import { etcdClient } from './etcd-config.js';
import { reason } from './etcd-calls.js';
import type { EtcdBackend } from './etcd.js';

const PAGE = 256;
/** etcd's default --max-txn-ops. */
const MAX_TXN_OPS = 128;

export async function snapshotAt(b: EtcdBackend, compactedError: (revision: number) => Error): Promise<{ revision: number; items: AsyncIterable<ExportedKeyValue> }> {
  const { key, range_end } = b.prefixRange('');
  const first = await b.rangeRaw('read a snapshot', { key, range_end, limit: PAGE });
  const revision = Number(first.header.revision);
  async function* items(): AsyncGenerator<ExportedKeyValue> {
    let page: IRangeResponse = first;
    for (;;) {
      for (const raw of page.kvs) {
        const kv: ExportedKeyValue = b.kv(raw);
        if (String(raw.lease) !== '0') kv.lease = String(raw.lease);
        yield kv;
      }
      if (!page.more || page.kvs.length === 0) return;
      const after = Buffer.concat([page.kvs.at(-1)!.key, Buffer.from([0])]);
      try {
        page = await b.rangeRaw(`read a snapshot at revision ${revision}`, { key: after, range_end, limit: PAGE, revision });
      } catch (e) {
        if (/required revision has been compacted/.test((e as Error).message)) throw compactedError(revision);
        throw e;
      }
    }
  }
  return { revision, items: items() };
}

export async function loadInto(b: EtcdBackend, items: AsyncIterable<LoadItem>): Promise<number> {
  const present = (await b.range('', { limit: 1 })).items[0];
  if (present) throw new TxnConflict('exists', present.key, 0, present.modRevision);
  const seen = new Set<string>();
  let batch: TxnOp[] = [];
  let bytes = 0;
  let revision = 0;
  const flush = async () => {
    if (batch.length > 0) revision = (await b.txn(batch)).revision;
    batch = [];
    bytes = 0;
  };
  for await (const item of items) {
    if (seen.has(item.key)) throw new TxnConflict('exists', item.key);
    seen.add(item.key);
    const size = Buffer.byteLength(item.key) + Buffer.byteLength(item.value);
    if (batch.length === MAX_TXN_OPS || bytes + size > b.config.maxValueBytes) await flush();
    batch.push({ op: 'create', key: item.key, value: item.value });
    bytes += size;
  }
  await flush();
  return revision || b.revision();
}

type Member = StoreStatus['members'][number];

export async function etcdStatus(b: EtcdBackend): Promise<StoreStatus> {
  let members: IMember[];
  try {
    members = (await b.request('list its members', 'read', (o) => b.client.cluster.memberList({}, o))).members;
  } catch (e) {
    if (!(e instanceof StoreUnavailable)) throw e;
    // no member answers: report the endpoints we were given, each with its error
    members = b.config.hosts.map((h) => ({ ID: '', name: h, peerURLs: [], clientURLs: [h], isLearner: false }));
  }
  const states = await Promise.all(members.map((m) => memberStatus(b, m)));
  return { backend: 'etcd', revision: Math.max(0, ...states.map((s) => s.revision)), members: states.map((s) => s.member) };
}

async function memberStatus(b: EtcdBackend, m: IMember): Promise<{ member: Member; revision: number }> {
  const endpoint = m.clientURLs[0]?.replace(/^https?:\/\//, '') ?? '';
  const base = { name: m.name || m.ID, ...(m.ID ? { id: m.ID } : {}), endpoint };
  if (!endpoint) return { member: { ...base, healthy: false, error: 'not started yet (no client URL)' }, revision: 0 };
  const client = etcdClient(b.config, [endpoint]);
  try {
    const st = await client.maintenance.status({ deadline: Date.now() + b.config.requestTimeoutMs });
    const errors = [...st.errors, ...(String(st.leader) === '0' ? ['no leader'] : [])];
    const id = String(st.header.member_id);
    return {
      member: { ...base, id, healthy: errors.length === 0, leader: String(st.leader) === id, version: st.version, dbSizeBytes: Number(st.dbSize), ...(errors.length > 0 ? { error: errors.join('; ') } : {}) },
      revision: Number(st.header.revision),
    };
  } catch (e) {
    return { member: { ...base, healthy: false, error: reason(e as Error) }, revision: 0 };
  } finally {
    client.close();
  }
}
