/**
 * A metric family computed whole at scrape time, for families of thousands of series (per-instance
 * usage, per-node resources): its samples come from a function and go straight to the registry's
 * text, without prom-client's per-series bookkeeping (each set() hashes its label set, which for
 * 100,000 series costs more than writing them). Registered like any prom-client metric.
 */
import type { Metric, Registry } from 'prom-client';

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export class SnapshotFamily {
  readonly aggregator = 'sum';
  readonly labelNames: string[] = [];

  constructor(readonly name: string, readonly help: string, readonly type: 'gauge' | 'counter', private readonly samples: () => Sample[]) {}

  /** What prom-client's registry reads at each scrape (called once per family per scrape). */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.samples() };
  }

  reset(): void {}

  register(registry: Registry): this {
    registry.registerMetric(this as unknown as Metric);
    return this;
  }
}
