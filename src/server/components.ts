/** The control-plane components `stratus server` runs besides the API. */
import type { Component } from './runner.js';
import type { ServerContext } from './main.js';

export interface ComponentOptions {
  scheduler: boolean;
  policy: string;
}

export function serverComponents(_options: ComponentOptions): (ctx: ServerContext) => Component[] {
  return () => [];
}
