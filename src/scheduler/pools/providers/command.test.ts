import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandProvider } from './command.js';

const dir = mkdtempSync(join(tmpdir(), 'stratus-pool-cmd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An executable shell script in the test's directory. */
function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

const request = { pool: 'p', node: 'p-abcde', joinToken: 'stratus_secret', servers: ['http://127.0.0.1:7070'], shape: { cpu: 4000, memory: 8192, disk: 0, gpus: [], labels: {} } };
const provider = (create: string[], o: { timeout?: string; env?: Record<string, string> } = {}) => new CommandProvider({ type: 'command', create, delete: create, ...o });

describe('command provider', () => {
  it('create: the request as JSON on stdin, argv as given, only PATH and the pool\'s env; the answer from stdout', async () => {
    const seen = join(dir, 'seen.json');
    const ok = script('ok.sh', `cat > ${seen}; echo "$1 $FOO $HOME" > ${seen}.env; echo '{"node": "p-abcde", "id": "vm-42"}'`);
    const made = await provider([ok, 'first arg; not a shell'], { env: { FOO: 'bar' } }).create(request);
    expect(made).toEqual({ node: 'p-abcde', id: 'vm-42' });
    expect(JSON.parse(readFileSync(seen, 'utf8'))).toEqual({ action: 'create', ...request });
    expect(readFileSync(`${seen}.env`, 'utf8').trim()).toBe('first arg; not a shell bar'); // no HOME: nothing of the server's env
  });

  it('delete: the request on stdin; exit 0 is enough', async () => {
    const seen = join(dir, 'deleted.json');
    const del = script('del.sh', `cat > ${seen}`);
    await new CommandProvider({ type: 'command', create: [del], delete: [del] }).delete({ pool: 'p', node: 'p-abcde', id: 'vm-42' });
    expect(JSON.parse(readFileSync(seen, 'utf8'))).toEqual({ action: 'delete', pool: 'p', node: 'p-abcde', id: 'vm-42' });
  });

  it.each([
    { what: 'a non-zero exit: its stderr\'s last line', body: 'echo starting >&2; echo "quota exceeded in region x" >&2; exit 3', error: /^create \(.*\) exited with 3: quota exceeded in region x$/ },
    { what: 'an {"error"} answer', body: 'echo \'{"error": "no capacity in zone a"}\'', error: /^create \(.*\) failed: no capacity in zone a$/ },
    { what: 'garbage on stdout', body: 'echo "created it, I think"', error: /wrote no JSON object on stdout \(expected \{"node": "p-abcde"\}\): "created it, I think\\n"$/ },
    { what: 'a node name that is no DNS label', body: 'echo \'{"node": "Bad_Name"}\'', error: /answered node "Bad_Name": not a node name/ },
    { what: 'too much output', body: 'head -c 200000 /dev/zero', error: /wrote more than 65536 bytes to stdout \(killed\)$/ },
  ])('create fails with a readable error: $what', async ({ body, error }) => {
    await expect(provider([script(`f${Math.random().toString(36).slice(2)}.sh`, body)]).create(request)).rejects.toThrow(error);
  });

  it('a run past the timeout is killed, with its children', async () => {
    const pidFile = join(dir, 'child.pid');
    // the child holds none of the script's pipes: only a kill of the whole group ends it
    const slow = script('slow.sh', `sleep 30 </dev/null >/dev/null 2>&1 & echo $! > ${pidFile}; wait`);
    await expect(provider([slow], { timeout: '300ms' }).create(request)).rejects.toThrow(/did not finish within 0.3 s \(killed\)/);
    const child = Number(readFileSync(pidFile, 'utf8'));
    await new Promise((r) => setTimeout(r, 100));
    // the script's sleep went with it (gone, or a zombie no one reaped yet)
    const state = (() => {
      try {
        return readFileSync(`/proc/${child}/stat`, 'utf8').split(') ')[1]![0];
      } catch {
        return 'gone';
      }
    })();
    expect(['gone', 'Z']).toContain(state);
  });

  it('a program that does not exist', async () => {
    await expect(provider([join(dir, 'missing')]).create(request)).rejects.toThrow(/could not run: spawn .*missing ENOENT/);
  });
});
