import { describe, expect, it } from 'vitest';
import { appendLines } from './format.js';

describe('appendLines', () => {
  it('joins a line split across chunks and keeps the last lines', () => {
    let lines = appendLines([], 'one\ntw');
    lines = appendLines(lines, 'o\nthree\n');
    expect(lines).toEqual(['one', 'two', 'three', '']);
    expect(appendLines(lines, 'four\nfive', 3)).toEqual(['three', 'four', 'five']);
  });
});
