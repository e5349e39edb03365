/**
 * The control plane as the API shows it: the servers sharing a store (runtime/servers.ts keeps
 * their records) and the store's members (store/backend.ts `status()`). Types only.
 */

/** What a server says of itself, in its record in the store. */
export interface ServerRecord {
  name: string;
  /** Where clients and agents reach its API. */
  url: string;
  version: string;
  /** The identity it campaigns with (runtime/leader.ts). */
  identity: string;
  startedAt: string;
}

/** A server as `GET /v1/servers` shows it. */
export interface ServerView {
  name: string;
  url: string;
  version: string;
  startedAt: string;
  status: { leader: boolean };
}

/** The election whose holder is "the leader" of the cloud: the one running the scheduler and controllers. */
export const CONTROLLERS_ELECTION = 'controllers';

/** What a store's `status()` reports: its members and their health (etcd); single-process stores have one. */
export interface StoreStatus {
  backend: string;
  revision: number;
  members: Array<{ name: string; id?: string; endpoint: string; healthy: boolean; leader?: boolean; version?: string; dbSizeBytes?: number; error?: string }>;
}
