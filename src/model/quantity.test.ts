import { describe, it, expect } from 'vitest';
import { parseCpu, parseMebibytes, parseCanonicalCpu, parseCanonicalMebibytes, formatCpu, formatMebibytes, QuantityError } from './quantity.js';

describe('parseCpu', () => {
  it.each([
    ['500m', 500],
    ['2', 2000],       // cores
    ['0.25', 250],     // 0.25 * 1000
    ['1.5', 1500],
    ['0m', 0],
    [2, 2000],         // a number means what the same digits mean as a string: cores
    [1, 1000],
    [1.5, 1500],
    [0.25, 250],
    [0.001, 1],
    [0, 0],
  ])('%j → %d millicores', (input, want) => expect(parseCpu(input)).toBe(want));

  it.each([['12Q'], ['-1'], ['1.0005'], ['0.5m'], [''], [0.0005], [-3], [Infinity], [null], [{}]])('%j is refused', (input) => {
    expect(() => parseCpu(input)).toThrow(QuantityError);
  });

  it('says that a plain number is cores when it is finer than a millicore', () => {
    expect(() => parseCpu(0.0005)).toThrow('0.0005 is finer than one millicore (a plain number is cores: 0.25 is 250m)');
  });

  it('reads what the platform writes (node capacity) as millicores', () => {
    expect(parseCanonicalCpu(750)).toBe(750);
    expect(parseCanonicalCpu('2')).toBe(2000);
    expect(() => parseCanonicalCpu(1.5)).toThrow(QuantityError);
  });
});

describe('parseMebibytes', () => {
  it.each([
    ['512Mi', 512],
    ['2Gi', 2048],     // 2 * 1024
    ['1Ti', 1048576],
    ['1536Ki', 2],     // 1536 / 1024 = 1.5 → rounds up
    ['1G', 954],       // 1e9 / 1048576 = 953.67 → 954
    ['64', 64],        // a bare string is MiB
    [64, 64],          // and so is a bare number: the same digits, the same size
    [300, 300],
  ])('%j → %d MiB', (input, want) => expect(parseMebibytes(input)).toBe(want));

  it('refuses a plain size that can only have been meant as bytes, and says how to write it', () => {
    const hint = /a plain number is MiB here \(not bytes, as in Kubernetes\); write the unit, e.g. "512Mi"/;
    expect(() => parseMebibytes(1073741824)).toThrow(hint); // 1Gi in bytes: 1 PiB in MiB
    expect(() => parseMebibytes('1073741824')).toThrow(hint);
    expect(parseMebibytes('1Pi')).toBe(2 ** 30); // with a unit, a PiB is what it says
    expect(parseCanonicalMebibytes(2 ** 30)).toBe(2 ** 30);
  });

  it('names the bad value and shows an example', () => {
    expect(() => parseMebibytes('12Qi')).toThrow('"12Qi" is not a size (use e.g. "512Mi" or "2Gi")');
    expect(() => parseMebibytes(2 ** 41)).toThrow(/larger than the maximum/);
  });
});

describe('formatting', () => {
  it.each([[2000, '2'], [1500, '1500m'], [0, '0']])('cpu %d → %s', (n, s) => expect(formatCpu(n)).toBe(s));
  it.each([[2048, '2Gi'], [1536, '1536Mi'], [1048576, '1Ti'], [0, '0Mi']])('memory %d → %s', (n, s) => expect(formatMebibytes(n)).toBe(s));
  it('round-trips through its own text form', () => {
    for (const n of [0, 1, 999, 1000, 1234, 64000]) expect(parseCpu(formatCpu(n))).toBe(n);
    for (const n of [1, 512, 1024, 3072, 1048576]) expect(parseMebibytes(formatMebibytes(n))).toBe(n);
  });
});
