import { describe, it, expect } from 'vitest';
import { parseObject } from '../kind.js';
import { instanceKind } from './index.js';
import { parseProblems } from './testing.js';

const base = { kind: 'instance', metadata: { name: 'web' }, spec: { driver: 'process', command: ['sleep', '1'] } };

const problems = (body: unknown) => parseProblems(instanceKind, body);

describe('instance spec', () => {
  it('fills defaults and stores quantities as integers', () => {
    const { spec } = parseObject(instanceKind, { ...base, spec: { ...base.spec, resources: { cpu: '1.5', memory: '1Gi', gpu: { share: 460, models: 'V100M16|V100M32' } } } });
    expect(spec).toMatchObject({
      resources: { cpu: 1500, memory: 1024, disk: 0, gpu: { share: 460, models: ['V100M16', 'V100M32'] } },
      priority: 0,
      restartPolicy: 'always',
      gracePeriod: 10,
    });
  });

  it('canonicalizes selectors', () => {
    const { spec } = parseObject(instanceKind, { ...base, spec: { ...base.spec, placement: { nodeSelector: 'disk = ssd , zone in (a,b)', antiAffinity: [{ selector: 'app==web' }] } } });
    expect((spec as { placement: { nodeSelector: string; antiAffinity: { selector: string }[] } }).placement).toMatchObject({ nodeSelector: 'disk=ssd,zone in (a,b)', antiAffinity: [{ selector: 'app=web' }] });
  });

  it.each([
    [{ resources: { memory: '12Qi' } }, 'spec.resources.memory: "12Qi" is not a size'],
    [{ resources: { gpu: { count: 1, share: 500 } } }, 'spec.resources.gpu: set either count'],
    [{ ports: [{ port: 80 }, { port: 80 }] }, 'spec.ports[1].port: 80/tcp is listed twice'],
    [{ ports: [{ port: 80, publish: 8080 }, { port: 81, publish: 8080 }] }, 'spec.ports[1].publish: host port 8080/tcp is published twice'],
    [{ placement: { nodeSelector: 'a in (' } }, 'spec.placement.nodeSelector: unbalanced'],
    [{ priority: -1 }, 'spec.priority: -1 is less than the minimum 0'],
    [{ restartPolicy: 'sometimes' }, 'spec.restartPolicy: "sometimes" is not one of: always, on-failure, never'],
    [{ env: { '1BAD': 'x' } }, 'spec.env'],
    [{ colour: 'red' }, 'spec.colour: unknown field (allowed: driver, image, command'],
  ])('refuses %j', (extra, want) => {
    expect(problems({ ...base, spec: { ...base.spec, ...extra } }).join('\n')).toContain(want);
  });

  it('requires the fields each driver needs', () => {
    expect(problems({ ...base, spec: { driver: 'process' } })).toEqual(['spec.command: is required for the process driver']);
    expect(problems({ ...base, spec: { driver: 'vm' } })).toEqual(['spec.image: is required for the vm driver']);
  });

  describe('vm fields', () => {
    const vm = { ...base, spec: { driver: 'vm', image: 'debian' } };
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ana@laptop';

    it('accepts user data and keys on a vm', () => {
      const { spec } = parseObject(instanceKind, { ...vm, spec: { ...vm.spec, userData: '#!/bin/sh\necho hi\n', sshKeys: [key] } });
      expect(spec).toMatchObject({ userData: '#!/bin/sh\necho hi\n', sshKeys: [key] });
    });

    it.each([
      ['process', { ...base.spec, userData: '#cloud-config' }, 'spec.userData: applies to the vm driver only (this instance\'s driver is process); remove it'],
      ['container', { driver: 'container', image: 'web', sshKeys: [key] }, 'spec.sshKeys: applies to the vm driver only (this instance\'s driver is container); remove it'],
    ])('refuses the vm fields on a %s', (_d, spec, want) => {
      expect(problems({ ...base, spec })).toEqual([want]);
    });

    it('counts user data in UTF-8 bytes, at most 64 KiB', () => {
      expect(problems({ ...vm, spec: { ...vm.spec, userData: 'x'.repeat(65536) } })).toEqual([]);
      // 30,000 characters of 3 bytes each: under the schema's character limit, over the byte limit
      expect(problems({ ...vm, spec: { ...vm.spec, userData: '€'.repeat(30000) } })).toEqual(['spec.userData: is 90000 bytes; user data is at most 65536 bytes (64 KiB)']);
      expect(problems({ ...vm, spec: { ...vm.spec, userData: 'x'.repeat(65537) } }).join('\n')).toContain('spec.userData');
    });

    it('refuses a key that is not one OpenSSH line', () => {
      expect(problems({ ...vm, spec: { ...vm.spec, sshKeys: [key, `${key}\nruncmd: [reboot]`, 'hello'] } }).map((p) => p.split(':')[0])).toEqual(['spec.sshKeys[1]', 'spec.sshKeys[2]']);
    });
  });

  it('keeps the spec immutable except priority', () => {
    const prev = parseObject(instanceKind, base).spec;
    expect(instanceKind.checkUpdate!(prev, { ...prev, priority: 5 })).toEqual([]);
    expect(instanceKind.checkUpdate!(prev, { ...prev, command: ['x'] }).map((p) => p.path)).toEqual(['spec.command']);
  });

  it('reports several problems at once, each once', () => {
    const got = problems({ kind: 'instance', metadata: { name: 'X', labels: { ok: 'fine' } }, spec: { driver: 'nope', resources: { cpu: 'lots' } } });
    expect(got.map((g) => g.split(':')[0])).toEqual(['metadata.name', 'spec.driver', 'spec.resources.cpu']);
  });
});
