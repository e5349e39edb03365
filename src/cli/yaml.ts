/** The yaml package, loaded on first use: most commands print tables and never need it (it costs ~25 ms to load). */
import { createRequire } from 'node:module';
import type YAMLModule from 'yaml';

const require = createRequire(import.meta.url);
let loaded: typeof YAMLModule | undefined;

export function yaml(): typeof YAMLModule {
  loaded ??= require('yaml') as typeof YAMLModule;
  return loaded;
}
