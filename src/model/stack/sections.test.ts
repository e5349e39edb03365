import { describe, it, expect } from 'vitest';
import { Type } from '@sinclair/typebox';
import { defineKind, type Kind } from '../kind.js';
import { ALL_KINDS, instanceKind } from '../kinds/index.js';
import { parseStackFile, waves } from './file.js';
import { stackKinds } from './sections.js';

/** A kind no file of model/stack/ names, defined as a kind's own file would define it. */
const gadgetKind = defineKind({
  kind: 'gadget',
  plural: 'gadgets',
  title: 'Gadget',
  scope: 'project',
  description: 'A made-up kind for this test.',
  spec: Type.Object({ colour: Type.String() }),
  status: Type.Object({}),
  columns: [{ header: 'NAME', get: (o) => o.metadata.name }],
  stack: { section: 'gadgets', first: true },
}) as unknown as Kind;

const withGadget = stackKinds([...ALL_KINDS, gadgetKind]);
const file = 'name: shop\ninstances:\n  app: {driver: process, command: [x]}\ngadgets:\n  blue: {colour: blue}\n';

describe('stack sections come from the kinds', () => {
  it('accepts the section of a kind added to the list, and puts its `first` objects in the first wave', () => {
    const s = parseStackFile(file, 'f.yaml', {}, withGadget);
    expect(s.objects.map((o) => `${o.kind.kind}/${o.name}`)).toEqual(['instance/app', 'gadget/blue']);
    expect(s.objects[1]!.body).toEqual({ kind: 'gadget', metadata: { name: 'blue' }, spec: { colour: 'blue' } });
    expect(s.objects[1]!.path('spec.colour')).toBe('f.yaml:5: gadgets.blue.colour');
    expect(waves(s.objects).map((w) => w.map((o) => o.name))).toEqual([['blue'], ['app']]);
    expect(parseStackFile('kind: Gadget\nmetadata: {name: g}\nspec: {colour: red}\n', 'f.yaml', {}, withGadget).objects[0]!.kind).toBe(gadgetKind);
  });

  it('refuses a section no kind of the list declares, listing those they do', () => {
    expect(() => parseStackFile(file, 'f.yaml', {})).toThrow('f.yaml:1: unknown top-level field "gadgets" (allowed: name, description, parameters, instances, images, networks, security-groups, services, secrets, volumes)');
    expect(() => parseStackFile(file, 'f.yaml', {}, stackKinds([instanceKind]))).toThrow('(allowed: name, description, parameters, instances)');
  });

  it('reads volumes: as the registered volume kind declares it, volumes first', () => {
    const s = parseStackFile('instances:\n  pg: {driver: process, command: [x], volumes: [{volume: data, path: /d}]}\nvolumes:\n  data: {size: 1Gi}\n', 'f.yaml', {});
    expect(s.objects.map((o) => `${o.kind.kind}/${o.name}`)).toEqual(['instance/pg', 'volume/data']);
    expect(waves(s.objects).map((w) => w.map((o) => o.name))).toEqual([['data'], ['pg']]);
  });

  it('refuses two kinds declaring one section, and a section that is a reserved field', () => {
    expect(() => stackKinds([...ALL_KINDS, { ...gadgetKind, stack: { section: 'volumes' } }])).toThrow('kinds volume and gadget both declare the stack section "volumes"');
    expect(() => stackKinds([{ ...gadgetKind, stack: { section: 'parameters' } }])).toThrow('kind gadget: stack section "parameters" is a reserved top-level field of stack files');
  });
});
