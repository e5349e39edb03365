import { describe, it, expect } from 'vitest';
import { parseCpu, parseMebibytes, formatCpu, formatMebibytes, QuantityError } from './quantity.js';

describe('parseCpu', () => {
  it.each([
    ['500m', 500],
    ['2', 2000],       // cores
    ['0.25', 250],     // 0.25 * 1000
    ['1.5', 1500],
    ['0m', 0],
    [750, 750],        // numbers are already millicores
  ])('%j → %d millicores', (input, want) => expect(parseCpu(input)).toBe(want));

  it.each([['12Q'], ['-1'], ['1.0005'], ['0.5m'], [''], [1.5], [-3], [null], [{}]])('%j is refused', (input) => {
    expect(() => parseCpu(input)).toThrow(QuantityError);
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
    [300, 300],
  ])('%j → %d MiB', (input, want) => expect(parseMebibytes(input)).toBe(want));

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
