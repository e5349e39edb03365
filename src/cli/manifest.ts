/** Reading the files commands are given (- is standard input). Parsing them: stack/file.ts. */
import { readFileSync } from 'node:fs';
import { CliError } from './errors.js';

export function readInput(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}
