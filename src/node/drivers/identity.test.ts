import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIRST_ID, IdRanges, RANGE_SIZE } from './identity.js';

const dir = mkdtempSync(join(tmpdir(), 'stratus-ids-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('per-project id ranges', () => {
  it('gives each project its own range above the machine users, the same one every time', () => {
    const file = join(dir, 'a.json');
    const ids = new IdRanges(file);
    const a = ids.forProject('team-a');
    const b = ids.forProject('team-b');
    // slot 0 → 2^20 + (0 + 1) × 65536 = 1,114,112
    expect(a).toEqual({ start: FIRST_ID + RANGE_SIZE, size: RANGE_SIZE });
    expect(b.start).toBe(a.start + RANGE_SIZE);
    expect(new IdRanges(file).forProject('team-a')).toEqual(a); // read back by another agent
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ version: 1, ranges: { 'team-a': 0, 'team-b': 1 } });
  });

  it('never hands one range to two projects when agents allocate at the same time', async () => {
    const file = join(dir, 'race.json');
    const url = new URL('./identity.ts', import.meta.url).pathname;
    const script = `import { IdRanges } from ${JSON.stringify(url)}; const ids = new IdRanges(${JSON.stringify(file)});
      const out = {}; for (let i = 0; i < 20; i++) out['p' + (i * 2 + Number(process.argv.at(-1)))] = ids.forProject('p' + (i * 2 + Number(process.argv.at(-1)))).start;
      console.log(JSON.stringify(out));`;
    const run = (n: number) => new Promise<Record<string, number>>((resolve, reject) => {
      const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`exit ${code}`))));
    });
    const [x, y] = await Promise.all([run(0), run(1)]);
    const starts = [...Object.values(x), ...Object.values(y)];
    expect(new Set(starts).size).toBe(40);
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).ranges)).toHaveLength(40);
  });
});
