import { describe, it, expect, afterEach } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentialPath, credentialServers, loadCredential, saveCredential } from './credential.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'stratus-credential-'));
  dirs.push(d);
  return d;
}

describe('the agent credential', () => {
  it('loads a credential of earlier versions, with one server as a string', () => {
    const dir = dataDir();
    writeFileSync(credentialPath(dir), JSON.stringify({ server: 'http://a:7070', node: 'n1', token: 'secret' }));
    expect(credentialServers(loadCredential(dir)!)).toEqual(['http://a:7070']);
  });

  it('keeps a list of servers; one is saved as a string, as earlier versions read it', () => {
    const dir = dataDir();
    saveCredential(dir, { server: ['http://a:7070', 'http://b:7070/'], node: 'n1', token: 'secret' });
    expect(JSON.parse(readFileSync(credentialPath(dir), 'utf8'))).toEqual({ server: ['http://a:7070', 'http://b:7070'], node: 'n1', token: 'secret' });
    expect(credentialServers(loadCredential(dir)!)).toEqual(['http://a:7070', 'http://b:7070']);
    saveCredential(dir, { server: ['http://a:7070'], node: 'n1', token: 'secret' });
    expect(JSON.parse(readFileSync(credentialPath(dir), 'utf8')).server).toBe('http://a:7070');
  });
});
