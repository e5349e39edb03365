/**
 * A small DNS server for instances: A records for the names of a network's services and
 * instances, answered on the network's gateway (UDP port 53). No dependency; the wire format is
 * RFC 1035 for the few record types we answer.
 *
 *   "web", "web.<zone>"    → the records set for that network (zones: e.g. "<project>.stratus")
 *   AAAA / other types     → NODATA for a known name (so resolvers do not wait for it)
 *   anything else          → forwarded to the upstream resolvers if configured, else NXDOMAIN
 *
 * One UDP socket per network, bound to its gateway address: the address tells which network's
 * names a query may see, so a project never resolves another project's names.
 */
import { createSocket, type Socket } from 'node:dgram';

export type Records = Record<string, string | readonly string[]>;

export interface DnsOptions {
  /** Upstream resolvers ("8.8.8.8" or "8.8.8.8:53") for names outside our zones. None: NXDOMAIN. */
  upstream?: string[];
  /** TTL of our answers, seconds. Default 5: names follow replicas quickly. */
  ttl?: number;
  /** Upstream timeout. Default 2000 ms. */
  upstreamTimeoutMs?: number;
}

interface Zone {
  socket?: Socket;
  address?: string;
  port?: number;
  names: Map<string, string[]>;
  suffixes: string[];
}

export const TYPE_A = 1;
export const TYPE_AAAA = 28;
const RCODE_NXDOMAIN = 3;
const RCODE_FORMERR = 1;
const RCODE_SERVFAIL = 2;

export interface Question {
  id: number;
  flags: number;
  name: string;
  type: number;
  cls: number;
  /** Byte offset just after the question: the end of what a reply echoes. */
  end: number;
}

export class DnsServer {
  private readonly zones = new Map<string, Zone>();

  constructor(private readonly options: DnsOptions = {}) {}

  /**
   * Replaces the names of `network` (any key: "project/network" or the VNI). `zones` are the
   * suffixes also accepted ("myproj.stratus" makes "web.myproj.stratus" resolve like "web").
   */
  setRecords(network: string, records: Records, zones: readonly string[] = []): void {
    const zone = this.zone(network);
    zone.names = new Map(Object.entries(records).map(([n, ips]) => [normalize(n), typeof ips === 'string' ? [ips] : [...ips]]));
    zone.suffixes = zones.map((z) => `.${normalize(z)}`);
  }

  /** Starts answering for `network` on address:port (its gateway, port 53). Idempotent. */
  async listen(network: string, address: string, port = 53): Promise<{ address: string; port: number }> {
    const zone = this.zone(network);
    if (zone.socket && zone.address === address && (port === 0 || zone.port === port)) return { address, port: zone.port! };
    await this.close(network, true);
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address, port, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('message', (msg, rinfo) => {
      this.answerIn(zone, msg).then((reply) => reply && socket.send(reply, rinfo.port, rinfo.address)).catch(() => undefined);
    });
    socket.on('error', () => undefined);
    zone.socket = socket;
    zone.address = address;
    zone.port = socket.address().port;
    return { address, port: zone.port };
  }

  /** Stops answering for `network` (and forgets its names unless `keepRecords`). */
  async close(network?: string, keepRecords = false): Promise<void> {
    const keys = network === undefined ? [...this.zones.keys()] : [network];
    for (const k of keys) {
      const zone = this.zones.get(k);
      if (!zone) continue;
      const socket = zone.socket;
      delete zone.socket;
      if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
      if (!keepRecords) this.zones.delete(k);
    }
  }

  /** The reply of `network`'s server to one query packet (undefined: drop it). */
  answer(network: string, msg: Buffer): Promise<Buffer | undefined> {
    return this.answerIn(this.zone(network), msg);
  }

  private async answerIn(z: Zone, msg: Buffer): Promise<Buffer | undefined> {
    const q = parseQuestion(msg);
    if (!q) return msg.length >= 12 ? reply(msg, { id: msg.readUInt16BE(0), flags: msg.readUInt16BE(2), name: '', type: 0, cls: 0, end: 12 }, RCODE_FORMERR, [], 0) : undefined;
    if ((q.flags & 0x8000) !== 0) return undefined; // a response, not a query
    const ips = this.lookup(z, q.name);
    const ttl = this.options.ttl ?? 5;
    if (ips) return reply(msg, q, 0, q.type === TYPE_A || q.type === 255 ? ips : [], ttl);
    if (this.options.upstream?.length && !this.inZone(z, q.name)) {
      const forwarded = await this.forward(msg);
      return forwarded ?? reply(msg, q, RCODE_SERVFAIL, [], 0);
    }
    return reply(msg, q, RCODE_NXDOMAIN, [], 0);
  }

  private zone(network: string): Zone {
    let z = this.zones.get(network);
    if (!z) {
      z = { names: new Map(), suffixes: [] };
      this.zones.set(network, z);
    }
    return z;
  }

  private lookup(z: Zone, name: string): string[] | undefined {
    const direct = z.names.get(name);
    if (direct) return direct;
    for (const s of z.suffixes) if (name.endsWith(s)) return z.names.get(name.slice(0, -s.length));
    return undefined;
  }

  private inZone(z: Zone, name: string): boolean {
    return !name.includes('.') || z.suffixes.some((s) => name.endsWith(s));
  }

  private forward(msg: Buffer): Promise<Buffer | undefined> {
    const [host, port] = splitHostPort(this.options.upstream![0]!);
    return new Promise((resolve) => {
      const s = createSocket('udp4');
      const timer = setTimeout(() => finish(undefined), this.options.upstreamTimeoutMs ?? 2000);
      const finish = (r: Buffer | undefined) => {
        clearTimeout(timer);
        s.close();
        resolve(r);
      };
      s.once('message', (r) => finish(r));
      s.once('error', () => finish(undefined));
      s.send(msg, port, host);
    });
  }
}

function splitHostPort(s: string): [string, number] {
  const i = s.lastIndexOf(':');
  return i > 0 ? [s.slice(0, i), Number(s.slice(i + 1))] : [s, 53];
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** Parses the header and the first question of a query; undefined when malformed. */
export function parseQuestion(msg: Buffer): Question | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let off = 12;
  for (let hops = 0; hops < 128; hops++) {
    if (off >= msg.length) return undefined;
    const len = msg[off]!;
    if (len === 0) {
      off++;
      if (off + 4 > msg.length) return undefined;
      return { id: msg.readUInt16BE(0), flags: msg.readUInt16BE(2), name: normalize(labels.join('.')), type: msg.readUInt16BE(off), cls: msg.readUInt16BE(off + 2), end: off + 4 };
    }
    if (len > 63 || off + 1 + len > msg.length) return undefined; // no compression in a question
    labels.push(msg.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
  return undefined;
}

/** A reply echoing the question, with A records (a pointer to the question's name) for `ips`. */
function reply(query: Buffer, q: Question, rcode: number, ips: readonly string[], ttl: number): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  const rd = q.flags & 0x0100;
  header.writeUInt16BE(0x8000 | 0x0400 | rd | 0x0080 | rcode, 2); // QR, AA, RD as asked, RA
  const hasQuestion = q.end > 12;
  header.writeUInt16BE(hasQuestion ? 1 : 0, 4);
  header.writeUInt16BE(ips.length, 6);
  const question = hasQuestion ? query.subarray(12, q.end) : Buffer.alloc(0);
  const answers = ips.map((ip) => {
    const a = Buffer.alloc(16);
    a.writeUInt16BE(0xc00c, 0);
    a.writeUInt16BE(TYPE_A, 2);
    a.writeUInt16BE(1, 4);
    a.writeUInt32BE(ttl, 6);
    a.writeUInt16BE(4, 10);
    ip.split('.').forEach((o, i) => a.writeUInt8(Number(o), 12 + i));
    return a;
  });
  return Buffer.concat([header, question, ...answers]);
}

/** Builds a query packet (for tests and health checks of the server itself). */
export function buildQuery(id: number, name: string, type = TYPE_A): Buffer {
  const labels = name.split('.').filter((l) => l !== '').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2);
  header.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(type, 1);
  tail.writeUInt16BE(1, 3);
  return Buffer.concat([header, ...labels, tail]);
}

/** Reads the rcode and A records of a reply (for tests). */
export function parseAnswers(msg: Buffer): { id: number; rcode: number; ips: string[] } {
  const q = parseQuestion(msg);
  const ips: string[] = [];
  let off = q?.end ?? 12;
  for (let i = 0; i < msg.readUInt16BE(6) && off + 12 <= msg.length; i++) {
    off += (msg[off]! & 0xc0) === 0xc0 ? 2 : skipName(msg, off);
    const type = msg.readUInt16BE(off);
    const len = msg.readUInt16BE(off + 8);
    if (type === TYPE_A && len === 4) ips.push([...msg.subarray(off + 10, off + 14)].join('.'));
    off += 10 + len;
  }
  return { id: msg.readUInt16BE(0), rcode: msg.readUInt16BE(2) & 0xf, ips };
}

function skipName(msg: Buffer, off: number): number {
  let n = 0;
  while (msg[off + n]! !== 0) n += 1 + msg[off + n]!;
  return n + 1;
}

/** /etc/hosts lines for the same names: the fallback where no DNS server can run. */
export function hostsFile(records: Records, zones: readonly string[] = []): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const [name, ips] of Object.entries(records).sort(([a], [b]) => a.localeCompare(b))) {
    const first = typeof ips === 'string' ? ips : ips[0];
    if (first) lines.push(`${first}\t${[name, ...zones.map((z) => `${name}.${z}`)].join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}
