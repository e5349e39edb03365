import { describe, expect, it } from 'vitest';
import { DriverRegistry } from './registry.js';
import { MockDriver } from './mock.js';
import { builtinDrivers, createDrivers } from './index.js';

describe('DriverRegistry', () => {
  const registry = () =>
    new DriverRegistry()
      .register('good', () => new MockDriver({ name: 'good' }))
      .register('absent', () => new MockDriver({ name: 'absent', fingerprint: { available: false, details: ['runc is not installed'] } }))
      .register('broken', () => {
        throw new Error('boom');
      })
      .register('extra', () => new MockDriver({ name: 'extra' }), { enabledByDefault: false });

  it('creates the enabled drivers and sorts them by availability, with reasons', async () => {
    const set = await registry().create({ dataDir: '/tmp/x' });
    expect([...set.available.keys()]).toEqual(['good']);
    expect(set.unavailable.map((f) => [f.driver, f.details[0]])).toEqual([
      ['absent', 'runc is not installed'],
      ['broken', 'failed to initialize: boom'],
    ]);
  });

  it('creates only what is enabled, and refuses unknown names and duplicates', async () => {
    expect([...(await registry().create({ dataDir: '/tmp/x', enabled: ['extra'] })).available.keys()]).toEqual(['extra']);
    await expect(registry().create({ dataDir: '/tmp/x', enabled: ['vm'] })).rejects.toThrow(/unknown driver\(s\) vm; known: good, absent, broken, extra/);
    expect(() => registry().register('good', () => new MockDriver())).toThrow(/already registered/);
  });

  it('has process, container, vm and mock built in; mock only on request', async () => {
    expect(builtinDrivers().names()).toEqual(['process', 'container', 'vm', 'mock']);
    const set = await createDrivers({ dataDir: '/tmp/stratus-registry-test', enabled: ['process', 'mock'] });
    expect(set.available.get('process')?.fingerprint.driver).toBe('process');
    expect(set.available.has('mock')).toBe(true);
  });
});
