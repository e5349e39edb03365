/**
 * What creates and deletes a pool's machines. One small interface; the built-in providers are
 * `command` (the operator's executables) and `local` (agents on this machine). A provider never
 * touches the store: the autoscaler records what it did in the pool's status and events.
 */
import type { NodePoolSpec, PoolShape } from '../../../model/kinds/node-pool.js';

/** What one new machine needs to join: `stratus agent --server <servers> --join-token <joinToken> --node-name <node> --pool <pool>`. */
export interface CreateRequest {
  pool: string;
  /** The name the machine's agent must register as. */
  node: string;
  /** A join token made for this machine alone (expires after the pool's join timeout). */
  joinToken: string;
  /** The control plane's URLs. */
  servers: string[];
  shape: PoolShape;
}

export interface CreatedMachine {
  /** The node name it will register as (the request's, unless the provider says otherwise). */
  node: string;
  /** What the provider calls the machine, handed back on delete. */
  id?: string;
}

export interface DeleteRequest {
  pool: string;
  node: string;
  id?: string;
}

export interface MachineProvider {
  readonly type: string;
  /** Creates one machine; resolves once it is on its way (not joined yet). Throws a readable error. */
  create(req: CreateRequest): Promise<CreatedMachine>;
  /** Deletes one machine; idempotent (a machine already gone is not an error). */
  delete(req: DeleteRequest): Promise<void>;
  /**
   * Called on every pass with the control plane's URLs: brings back what the machines it made
   * earlier (by an earlier server, say) need of it. Cheap when there is nothing to do.
   */
  attach?(servers: string[]): Promise<void>;
  /** Stops what the provider runs on its own behalf (not the machines). */
  close?(): Promise<void>;
}

/** Builds the provider of a pool's spec. */
export type ProviderFactory = (pool: string, spec: NodePoolSpec['provider']) => MachineProvider;
