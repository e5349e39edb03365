import { describe, expect, it } from 'vitest';
import { CsvError, parseCsv } from './csv.js';
import { parseNodes, parseTasks, toInstance, toNode } from './trace.js';

function errorOf(fn: () => unknown): CsvError {
  try {
    fn();
  } catch (e) {
    if (e instanceof CsvError) return e;
    throw e;
  }
  throw new Error('expected a CsvError');
}

describe('parseCsv', () => {
  it('reads quoted fields, blank lines and CRLF', () => {
    const rows = parseCsv('a,b\r\n"x, y","say ""hi"""\r\n\r\n1,2\r\n', 'f.csv', ['a', 'b']);
    expect(rows.map((r) => [r.line, r.get('a'), r.get('b')])).toEqual([
      [2, 'x, y', 'say "hi"'],
      [4, '1', '2'],
    ]);
  });

  it.each([
    ['', 1, undefined, 'the file is empty'],
    ['a,c\n1,2\n', 1, 'b', 'is missing from the header'],
    ['a,b\n1,2,3\n', 2, undefined, 'has 3 fields, the header has 2'],
    ['a,b\n1,2\n"open,2\n', 3, undefined, 'a quoted field is not closed'],
    ['a,a\n', 1, 'a', 'is named twice'],
  ])('rejects %j at line %i', (text, line, column, problem) => {
    const e = errorOf(() => parseCsv(text, 'f.csv', ['a', 'b']));
    expect(e.line).toBe(line);
    expect(e.column).toBe(column);
    expect(e.message).toContain(problem);
    expect(e.message.startsWith(`f.csv:${line}:`)).toBe(true);
  });
});

const NODES = 'sn,cpu_milli,memory_mib,gpu,model\nn-0,32000,262144,0,\nn-1,96000,393216,8,G2\n';
const TASKS = 'name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\nt-0,1000,2048,0,0,\nt-1,6000,12288,1,460,\nt-2,12000,49152,2,1000,V100M16|V100M32\n';

describe('trace files', () => {
  it('reads nodes and tasks', () => {
    expect(parseNodes(NODES, 'nodes.csv')).toEqual([
      { name: 'n-0', cpu: 32000, memory: 262144, gpus: 0, model: '' },
      { name: 'n-1', cpu: 96000, memory: 393216, gpus: 8, model: 'G2' },
    ]);
    expect(parseTasks(TASKS, 'tasks.csv')).toEqual([
      { name: 't-0', cpu: 1000, memory: 2048, gpuCount: 0, gpuMilli: 0 },
      { name: 't-1', cpu: 6000, memory: 12288, gpuCount: 1, gpuMilli: 460 },
      { name: 't-2', cpu: 12000, memory: 49152, gpuCount: 2, gpuMilli: 1000, models: ['V100M16', 'V100M32'] },
    ]);
  });

  it('accepts task files without gpu_spec', () => {
    expect(parseTasks('name,cpu_milli,memory_mib,num_gpu,gpu_milli\nt-0,1,2,1,1000\n', 'x.csv')[0]).toEqual({ name: 't-0', cpu: 1, memory: 2, gpuCount: 1, gpuMilli: 1000 });
  });

  it.each([
    [NODES.replace('96000', '96k'), 3, 'cpu_milli', '"96k" is not a whole number'],
    [NODES.replace('8,G2', '8,'), 3, 'model', 'is empty but the node has 8 GPUs'],
    [NODES.replace('n-1', 'N_1'), 3, 'sn', 'is not a DNS label'],
    [NODES.replace('n-1', 'n-0'), 3, 'sn', 'appears twice'],
    [NODES.replace('8,G2', '99,G2'), 3, 'gpu', 'out of range'],
  ])('node errors name file, line and column (%#)', (text, line, column, problem) => {
    const e = errorOf(() => parseNodes(text, 'nodes.csv'));
    expect([e.file, e.line, e.column]).toEqual(['nodes.csv', line, column]);
    expect(e.message).toContain(problem);
  });

  it.each([
    [TASKS.replace('1,460', '1,1460'), 3, 'gpu_milli', 'out of range'],
    [TASKS.replace('0,0,', '0,300,'), 2, 'gpu_milli', 'is 300 but num_gpu is 0'],
    [TASKS.replace('2,1000', '2,500'), 4, 'gpu_milli', 'a share (< 1000) needs num_gpu 1'],
    [TASKS.replace('V100M16|V100M32', 'V100 M16'), 4, 'gpu_spec', 'is not a GPU model name'],
    [TASKS.replace('t-1,6000', 't-1,-5'), 3, 'cpu_milli', 'out of range'],
  ])('task errors name file, line and column (%#)', (text, line, column, problem) => {
    const e = errorOf(() => parseTasks(text, 'tasks.csv'));
    expect(e.message).toMatch(new RegExp(`^tasks\\.csv:${line}: column ${column}: `));
    expect(e.message).toContain(problem);
  });

  it('turns trace rows into model objects', () => {
    const [, g2] = parseNodes(NODES, 'nodes.csv');
    const n = toNode(g2!);
    expect(n.status?.allocatable?.gpus).toHaveLength(8);
    expect(n.status?.phase).toBe('Ready');
    const [, share, pair] = parseTasks(TASKS, 'tasks.csv');
    expect(toInstance(share!).spec.resources.gpu).toEqual({ share: 460 });
    expect(toInstance(pair!, 'copy').spec.resources.gpu).toEqual({ count: 2, models: ['V100M16', 'V100M32'] });
    expect(toInstance(pair!, 'copy').metadata.name).toBe('copy');
  });
});
