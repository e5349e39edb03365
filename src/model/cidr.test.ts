import { describe, expect, it } from 'vitest';
import {
  assignable, assignableCount, blockAt, blockCount, blocksOf, contains, covers, formatCidr, formatIp, gatewayOf,
  lastOf, maskOf, overlaps, parseCidr, parseCidrOrThrow, parseIp, parsePortRange, rangesOverlap,
} from './cidr.js';

const c = parseCidrOrThrow;

describe('parseIp / formatIp', () => {
  it.each([
    ['0.0.0.0', 0],
    ['10.240.0.1', 0x0af00001],
    ['255.255.255.255', 0xffffffff],
    ['192.168.1.10', 0xc0a8010a],
  ])('%s ⇄ %d', (text, n) => {
    expect(parseIp(text)).toBe(n);
    expect(formatIp(n)).toBe(text);
  });

  it.each(['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.-1', 'a.b.c.d', '1..2.3', ' 1.2.3.4'])('refuses %j', (text) => {
    expect(parseIp(text)).toBeUndefined();
  });
});

describe('parseCidr', () => {
  it.each([
    ['10.240.0.0/12', 0x0af00000, 12],
    ['10.240.3.0/24', 0x0af00300, 24],
    ['0.0.0.0/0', 0, 0],
    ['10.0.0.7/32', 0x0a000007, 32],
  ])('%s', (text, base, prefix) => {
    expect(parseCidr(text)).toEqual({ ok: true, value: { base, prefix } });
  });

  it.each([
    ['10.240.0.0', 'is not a CIDR'],
    ['10.240.0.0/33', 'is not a CIDR'],
    ['10.240.0/24', 'is not a CIDR'],
    ['10.240.0.0/x', 'is not a CIDR'],
    ['10.240.0.5/24', 'has host bits set; did you mean "10.240.0.0/24"?'],
    ['10.241.0.0/12', 'did you mean "10.240.0.0/12"?'],
  ])('refuses %j: %s', (text, message) => {
    const r = parseCidr(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toContain(message);
  });

  it('checks prefix bounds', () => {
    const r = parseCidr('10.0.0.0/8', { minPrefix: 16, maxPrefix: 28 });
    expect(r).toEqual({ ok: false, problem: '"10.0.0.0/8" has prefix /8; use a prefix between /16 and /28' });
  });
});

describe('range arithmetic', () => {
  it('masks', () => {
    expect(maskOf(0)).toBe(0);
    expect(maskOf(24)).toBe(0xffffff00);
    expect(maskOf(32)).toBe(0xffffffff);
  });

  it('gateway, last, assignable', () => {
    const n = c('10.240.7.0/24');
    expect(formatIp(gatewayOf(n))).toBe('10.240.7.1');
    expect(formatIp(lastOf(n))).toBe('10.240.7.255');
    expect(assignableCount(n)).toBe(253); // 256 - network - gateway - broadcast
    expect(formatIp(assignable(n, 0))).toBe('10.240.7.2');
    expect(formatIp(assignable(n, 252))).toBe('10.240.7.254');
    expect(assignableCount(c('10.0.0.0/28'))).toBe(13); // 16 - 3
  });

  it.each([
    // outer, inner, covers, overlaps
    ['10.240.0.0/12', '10.240.3.0/24', true, true],
    ['10.240.3.0/24', '10.240.0.0/12', false, true],
    ['10.240.0.0/24', '10.240.1.0/24', false, false],
    ['10.240.0.0/24', '10.240.0.128/25', true, true],
    ['10.240.0.0/12', '10.0.0.0/16', false, false],
  ])('%s vs %s', (a, b, cov, ov) => {
    expect(covers(c(a), c(b))).toBe(cov);
    expect(overlaps(c(a), c(b))).toBe(ov);
  });

  it('contains', () => {
    expect(contains(c('10.240.0.0/12'), parseIp('10.255.255.255')!)).toBe(true);
    expect(contains(c('10.240.0.0/12'), parseIp('11.0.0.0')!)).toBe(false);
  });

  it('blocks', () => {
    expect(blockCount(c('10.240.0.0/12'), 24)).toBe(4096); // 2^(24-12)
    expect(formatCidr(blockAt(c('10.240.0.0/12'), 24, 4095))).toBe('10.255.255.0/24');
    expect(blocksOf(c('10.1.0.0/22'), 24).map(formatCidr)).toEqual(['10.1.0.0/24', '10.1.1.0/24', '10.1.2.0/24', '10.1.3.0/24']);
    expect(blocksOf(c('10.1.2.64/26'), 24).map(formatCidr)).toEqual(['10.1.2.0/24']);
  });
});

describe('parsePortRange', () => {
  it.each([
    ['80', 80, 80],
    ['8000-8100', 8000, 8100],
    ['1-65535', 1, 65535],
  ])('%s', (text, from, to) => {
    expect(parsePortRange(text)).toEqual({ ok: true, value: { from, to } });
  });

  it.each([
    ['', 'is not a port or port range'],
    ['0', 'port 0 is outside 1-65535'],
    ['65536', 'port 65536 is outside 1-65535'],
    ['90-80', 'the range is reversed; write "80-90"'],
    ['80,81', 'is not a port or port range'],
    ['-80', 'is not a port or port range'],
  ])('refuses %j', (text, message) => {
    const r = parsePortRange(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toContain(message);
  });

  it('overlap', () => {
    expect(rangesOverlap({ from: 80, to: 90 }, { from: 90, to: 100 })).toBe(true);
    expect(rangesOverlap({ from: 80, to: 89 }, { from: 90, to: 100 })).toBe(false);
  });
});
