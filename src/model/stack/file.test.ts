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

  it('names the file, line and field of a parameter that has no value', () => {
    expect(() => spec('instances:\n  a: {driver: process, command: [echo, ${missing}]}\n')).toThrow(/^stack\.yaml:2: instances\.a\.command\[1\]: parameter \$\{missing\} has no value \(set it with --set missing=\.\.\. or under parameters:\)$/);
  });
});

describe('where a problem is in the file', () => {
  const text = 'name: shop\nservices:\n  web:\n    replicas: 2\n    template:\n      driver: process\n      resources: {memory: 12Qi}\n---\nkind: instance\nmetadata: {name: once}\nspec:\n  driver: process\n  command: [x]\n';
  const [web, once] = parseStackFile(text, 'shop.yaml', {}).objects;

  it('turns a server path into the file\'s terms, with the line of the field (or of what holds it)', () => {
    expect(web!.path('spec.template.spec.resources.memory')).toBe('shop.yaml:7: services.web.template.resources.memory');
    expect(web!.path('spec.replicas')).toBe('shop.yaml:4: services.web.replicas');
    expect(web!.path('spec.template.spec.command')).toBe('shop.yaml:6: services.web.template.command'); // missing: where the template is
    expect(once!.path('spec.command[0]')).toBe('shop.yaml:13: instance/once spec.command[0]');
  });

  it('refuses a name that is not a DNS label before asking the server, saying where', () => {
    expect(() => parseStackFile('services:\n  Web: {template: {driver: process, command: [x]}}\n', 's.yaml', {})).toThrow(/^s\.yaml:2: services\.Web: the name "Web" is not a DNS label/);
    expect(() => parseStackFile('kind: instance\nmetadata:\n  name: Bad_Name\nspec: {}\n', 'i.yaml', {})).toThrow(/^i\.yaml:3: metadata\.name "Bad_Name" is not a DNS label/);
  });
});
