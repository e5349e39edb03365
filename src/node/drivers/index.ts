/** The drivers package: the interface, the built-in drivers and their registry. */
import { join } from 'node:path';
import { ContainerDriver, type ContainerDriverOptions } from './container.js';
import { MockDriver, type MockDriverOptions } from './mock.js';
import { ProcessDriver, type ProcessDriverOptions } from './process.js';
import { DriverRegistry, type DriverConfig, type DriverSet } from './registry.js';
import { VmDriver, type VmDriverOptions } from './vm/vm.js';

export * from './driver.js';
export { DriverRegistry, type DriverConfig, type DriverSet, type AvailableDriver, type DriverFactory } from './registry.js';
export { ProcessDriver, type ProcessDriverOptions } from './process.js';
export { ContainerDriver, type ContainerDriverOptions } from './container.js';
export { VmDriver, type VmDriverOptions } from './vm/vm.js';
export { MockDriver, MockWorld, type MockBehavior, type MockDriverOptions } from './mock.js';
export { ImageStore, buildBusyboxRootfs, type ImageInfo, type ImageConfig } from './images.js';

/** A registry with process, container, vm (enabled by default) and mock (only when named in `enabled`). */
export function builtinDrivers(): DriverRegistry {
  const opts = <T>(c: DriverConfig, name: string) => (c.options?.[name] ?? {}) as Partial<T>;
  return new DriverRegistry()
    .register('process', (c) => new ProcessDriver({ ...(c.clock ? { clock: c.clock } : {}), ...opts<ProcessDriverOptions>(c, 'process') }))
    .register(
      'container',
      (c) =>
        new ContainerDriver({
          images: join(c.dataDir, 'images'),
          ...(c.clock ? { clock: c.clock } : {}),
          ...opts<ContainerDriverOptions>(c, 'container'),
        }),
    )
    .register('vm', (c) => new VmDriver({ ...(c.clock ? { clock: c.clock } : {}), ...opts<VmDriverOptions>(c, 'vm') }))
    .register('mock', (c) => new MockDriver({ ...(c.clock ? { clock: c.clock } : {}), ...opts<MockDriverOptions>(c, 'mock') }), { enabledByDefault: false });
}

/** The available built-in drivers with their fingerprints. */
export function createDrivers(config: DriverConfig, registry: DriverRegistry = builtinDrivers()): Promise<DriverSet> {
  return registry.create(config);
}
