import { afterEach, describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import { DnsServer, TYPE_AAAA, buildQuery, hostsFile, parseAnswers, parseQuestion } from './dns.js';

async function ask(port: number, name: string, type = 1, host = '127.0.0.1'): Promise<{ id: number; rcode: number; ips: string[] }> {
  const s = createSocket('udp4');
  try {
    return await new Promise((resolve, reject) => {
      s.once('message', (m) => resolve(parseAnswers(m)));
      s.once('error', reject);
      s.send(buildQuery(4242, name, type), port, host);
      setTimeout(() => reject(new Error('no answer')), 2000);
    });
  } finally {
    s.close();
  }
}

describe('DnsServer', () => {
  const servers: DnsServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  it('answers A records for a network\'s names, bare and in its zone, case-insensitively', async () => {
    const dns = new DnsServer();
    servers.push(dns);
    dns.setRecords('alpha', { web: '10.240.0.100', db: ['10.240.0.7', '10.240.0.8'] }, ['alpha.stratus']);
    const { port } = await dns.listen('alpha', '127.0.0.1', 0);
    expect(await ask(port, 'web')).toEqual({ id: 4242, rcode: 0, ips: ['10.240.0.100'] });
    expect(await ask(port, 'WEB.alpha.stratus.')).toEqual({ id: 4242, rcode: 0, ips: ['10.240.0.100'] });
    expect((await ask(port, 'db')).ips).toEqual(['10.240.0.7', '10.240.0.8']);
    expect(await ask(port, 'web', TYPE_AAAA)).toEqual({ id: 4242, rcode: 0, ips: [] }); // NODATA, not NXDOMAIN
    expect((await ask(port, 'nope')).rcode).toBe(3);
    expect((await ask(port, 'web.beta.stratus')).rcode).toBe(3);
  });

  it('keeps networks apart and follows record updates', async () => {
    const dns = new DnsServer();
    servers.push(dns);
    dns.setRecords('alpha', { web: '10.240.0.100' });
    dns.setRecords('beta', { api: '10.240.1.5' });
    const a = await dns.listen('alpha', '127.0.0.1', 0);
    const b = await dns.listen('beta', '127.0.0.2', 0);
    expect((await ask(a.port, 'api')).rcode).toBe(3);
    expect((await ask(b.port, 'api', 1, '127.0.0.2')).ips).toEqual(['10.240.1.5']);
    dns.setRecords('alpha', { web: '10.240.0.101' });
    expect((await ask(a.port, 'web')).ips).toEqual(['10.240.0.101']);
  });

  it('forwards other names upstream', async () => {
    const upstream = new DnsServer();
    servers.push(upstream);
    upstream.setRecords('up', { 'example.org': '192.0.2.1' });
    const up = await upstream.listen('up', '127.0.0.1', 0);
    const dns = new DnsServer({ upstream: [`127.0.0.1:${up.port}`] });
    servers.push(dns);
    dns.setRecords('alpha', { web: '10.240.0.100' }, ['alpha.stratus']);
    const { port } = await dns.listen('alpha', '127.0.0.1', 0);
    expect((await ask(port, 'example.org')).ips).toEqual(['192.0.2.1']);
    expect((await ask(port, 'nope')).rcode).toBe(3); // single labels and our zone are never forwarded
  });

  it('parses questions defensively', async () => {
    expect(parseQuestion(Buffer.alloc(5))).toBeUndefined();
    const q = buildQuery(7, 'a.b');
    expect(parseQuestion(q)).toMatchObject({ id: 7, name: 'a.b', type: 1, cls: 1 });
    expect(parseQuestion(q.subarray(0, q.length - 2))).toBeUndefined();
    const bad = Buffer.from(q);
    bad[12] = 0xc0; // a pointer in a question
    expect(parseQuestion(bad)).toBeUndefined();
    const reply = await new DnsServer().answer('x', bad);
    expect(reply && parseAnswers(reply).rcode).toBe(1); // FORMERR
  });
});

describe('hostsFile', () => {
  it('writes one line per name with its zone aliases', () => {
    expect(hostsFile({ web: '10.0.0.2', db: ['10.0.0.3', '10.0.0.4'] }, ['p.stratus'])).toBe(
      '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.0.3\tdb db.p.stratus\n10.0.0.2\tweb web.p.stratus\n',
    );
  });
});
