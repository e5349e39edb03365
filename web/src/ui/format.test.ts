import { describe, expect, it } from 'vitest';
import { appendLines, plainText } from './format.js';

describe('appendLines', () => {
  it('joins a line split across chunks and keeps the last lines', () => {
    let lines = appendLines([], 'one\ntw');
    lines = appendLines(lines, 'o\nthree\n');
    expect(lines).toEqual(['one', 'two', 'three', '']);
    expect(appendLines(lines, 'four\nfive', 3)).toEqual(['three', 'four', 'five']);
  });
});

describe('plainText', () => {
  it('drops escape sequences and carriage returns', () => {
    expect(plainText('\x1b[1;32mOK\x1b[0m boot\r\nlogin: \x1b[?25h')).toBe('OK boot\nlogin: ');
  });
});
