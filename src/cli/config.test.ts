import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveTarget, serverList } from './config.js';
import { CliError } from './errors.js';

const VARS = ['STRATUS_CONFIG', 'STRATUS_SERVER', 'STRATUS_TOKEN', 'STRATUS_PROJECT', 'STRATUS_CONTEXT'];
let dir: string;
let saved: Record<string, string | undefined>;

beforeEach(() => {
  saved = Object.fromEntries(VARS.map((k) => [k, process.env[k]]));
  for (const k of VARS) delete process.env[k];
  dir = mkdtempSync(join(tmpdir(), 'stratus-config-'));
  process.env.STRATUS_CONFIG = join(dir, 'config.json');
});

afterEach(() => {
  for (const k of VARS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  rmSync(dir, { recursive: true, force: true });
});

function contexts(c: Record<string, unknown>): void {
  writeFileSync(process.env.STRATUS_CONFIG!, JSON.stringify({ current: Object.keys(c)[0], contexts: c }));
}

function usage(f: () => unknown): CliError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).exitCode).toBe(2);
    return e as CliError;
  }
  throw new Error('no CliError');
}

describe('servers of a context', () => {
  it('loads a context saved with one server as a string (earlier versions) or with a list', () => {
    contexts({ old: { server: 'http://a:7070/', token: 't' } });
    expect(resolveTarget({})).toMatchObject({ servers: ['http://a:7070'], token: 't', project: 'default', contextName: 'old' });
    contexts({ ha: { server: ['http://a:7070', 'http://b:7070'], token: 't', project: 'p' } });
    expect(resolveTarget({})).toMatchObject({ servers: ['http://a:7070', 'http://b:7070'], project: 'p' });
  });

  it('takes a comma-separated list from --server or STRATUS_SERVER, before the context', () => {
    contexts({ ha: { server: ['http://a'], token: 't' } });
    expect(resolveTarget({ server: 'http://x,http://y' }).servers).toEqual(['http://x', 'http://y']);
    process.env.STRATUS_SERVER = 'http://z, http://w';
    expect(resolveTarget({}).servers).toEqual(['http://z', 'http://w']);
  });

  it('refuses a list with a bad URL in one line naming it and where it came from', () => {
    expect(usage(() => serverList('http://a,ftp://b')).message).toBe('--server: "ftp://b" is not a server URL (use e.g. http://127.0.0.1:7070)');
    expect(usage(() => resolveTarget({ server: 'http://a,', token: 't' })).message).toMatch(/^--server: an empty server URL in "http:\/\/a,"/);
    contexts({ broken: { server: ['http://a', 'nope'], token: 't' } });
    expect(usage(() => resolveTarget({})).message).toBe('context "broken": "nope" is not a server URL (use e.g. http://127.0.0.1:7070)');
  });
});
