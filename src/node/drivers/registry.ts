/**
 * Drivers by name. A registry maps names to factories; `create()` builds the enabled drivers,
 * fingerprints them, and sorts them into usable and unusable (with the reasons).
 */
import type { Clock } from '../../model/runtime.js';
import type { Driver, Fingerprint } from './driver.js';

export interface DriverConfig {
  /** The agent's data directory; drivers keep their own state under it (e.g. <dataDir>/images). */
  dataDir: string;
  /** Drivers to create. Default: every driver registered as enabled by default. Unknown names throw. */
  enabled?: string[];
  clock?: Clock;
  /** Per-driver options, by driver name (see each driver's options type). */
  options?: Record<string, Record<string, unknown>>;
}

export type DriverFactory = (config: DriverConfig) => Driver;

export interface AvailableDriver {
  driver: Driver;
  fingerprint: Fingerprint;
}

export interface DriverSet {
  /** Drivers that work here, by name. */
  available: Map<string, AvailableDriver>;
  /** Fingerprints of enabled drivers that do not (each says why in `details`). */
  unavailable: Fingerprint[];
}

export class DriverRegistry {
  private readonly factories = new Map<string, { factory: DriverFactory; enabledByDefault: boolean }>();

  /** Registers `name`; registering a name twice throws (two drivers would silently shadow each other). */
  register(name: string, factory: DriverFactory, options: { enabledByDefault?: boolean } = {}): this {
    if (this.factories.has(name)) throw new Error(`driver "${name}" is already registered`);
    this.factories.set(name, { factory, enabledByDefault: options.enabledByDefault ?? true });
    return this;
  }

  names(): string[] {
    return [...this.factories.keys()];
  }

  /** Builds and fingerprints the enabled drivers. A driver whose fingerprint throws counts as unavailable. */
  async create(config: DriverConfig): Promise<DriverSet> {
    const names = config.enabled ?? [...this.factories].filter(([, f]) => f.enabledByDefault).map(([n]) => n);
    const unknown = names.filter((n) => !this.factories.has(n));
    if (unknown.length > 0) throw new Error(`unknown driver(s) ${unknown.join(', ')}; known: ${this.names().join(', ')}`);
    const set: DriverSet = { available: new Map(), unavailable: [] };
    const built = await Promise.all(
      names.map(async (name) => {
        let driver: Driver | undefined;
        try {
          driver = this.factories.get(name)!.factory(config);
          return { name, driver, fingerprint: await driver.fingerprint() };
        } catch (e) {
          const fingerprint: Fingerprint = { driver: name, available: false, enforcesLimits: false, details: [`failed to initialize: ${(e as Error).message}`], attributes: {} };
          return { name, driver, fingerprint };
        }
      }),
    );
    for (const { name, driver, fingerprint } of built) {
      if (driver && fingerprint.available) set.available.set(name, { driver, fingerprint });
      else set.unavailable.push(fingerprint);
    }
    return set;
  }
}
