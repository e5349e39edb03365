import { describe, it, expect } from 'vitest';
import { parseStackFile } from './file.js';

const spec = (text: string, set: Record<string, string> = {}) => parseStackFile(text, 'stack.yaml', set).objects.map((o) => o.body.spec);

describe('stack file parameters', () => {
  it('substitutes ${name} inside YAML flow maps and sequences, typed when it is the whole value', () => {
    const text = 'parameters: {cpu: 2, greeting: hi}\ninstances:\n  a: {driver: process, command: [sh, -c, echo ${greeting} there], resources: {cpu: ${cpu}, memory: 64Mi}}\n';
    expect(spec(text)).toEqual([{ driver: 'process', command: ['sh', '-c', 'echo hi there'], resources: { cpu: 2, memory: '64Mi' } }]);
    expect(spec(text, { cpu: '500m', greeting: 'hello' })).toEqual([{ driver: 'process', command: ['sh', '-c', 'echo hello there'], resources: { cpu: '500m', memory: '64Mi' } }]);
  });

  it('keeps block style, quoted references and parameter defaults working as before', () => {
    const text = 'parameters:\n  replicas: 3\n  tag: "${replicas}x"\nservices:\n  web:\n    replicas: ${replicas}\n    template:\n      driver: process\n      command: ["${replicas}"]\n';
    const file = parseStackFile(text, 'stack.yaml', {});
    expect(file.parameters).toEqual({ replicas: 3, tag: '${replicas}x' });
    expect(file.objects[0]!.body.spec).toMatchObject({ replicas: 3, template: { spec: { command: [3] } } });
  });

  it('declares what parameters: lists and what ${name} uses', () => {
    expect(parseStackFile('parameters: {a: 1}\ninstances:\n  x: {driver: process, command: [echo, "${b}"]}\n', 'f', { b: 'v' }).declared.sort()).toEqual(['a', 'b']);
  });

  it('names the file path of a parameter that has no value', () => {
    expect(() => spec('instances:\n  a: {driver: process, command: [echo, ${missing}]}\n')).toThrow('instances.a.command[1]: parameter ${missing} has no value (set it with --set missing=... or under parameters:)');
  });
});
