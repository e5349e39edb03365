/** The built-in providers, by the pool's `provider.type`. */
import type { NodePoolSpec } from '../../../model/kinds/node-pool.js';
import { CommandProvider } from './command.js';
import { LocalProvider, type LocalOptions } from './local.js';
import type { MachineProvider, ProviderFactory } from './provider.js';

export type { MachineProvider, ProviderFactory, CreateRequest, CreatedMachine, DeleteRequest } from './provider.js';

export function defaultProviders(local: LocalOptions): ProviderFactory {
  return (pool: string, spec: NodePoolSpec['provider']): MachineProvider => (spec.type === 'command' ? new CommandProvider(spec) : new LocalProvider(pool, spec, local));
}
