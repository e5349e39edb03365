/** Runs the real `stratus` CLI in a child process with its own config file. */
import { spawn } from 'node:child_process';
import { BIN } from './server.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cliRunner(configPath: string, env: Record<string, string> = {}) {
  return (args: string[], input?: string): Promise<CliResult> =>
    new Promise((resolve) => {
      const proc = spawn(process.execPath, [BIN, ...args], {
        env: { ...process.env, STRATUS_CONFIG: configPath, STRATUS_SERVER: '', STRATUS_TOKEN: '', STRATUS_PROJECT: '', ...env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      proc.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      proc.stdin.end(input ?? '');
    });
}
