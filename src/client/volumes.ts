/**
 * The volume operations (api/routes/volumes.ts) as typed functions of an ApiClient:
 * `stratus volume snapshot|restore|clone|resize`.
 */
import type { ApiClient } from './index.js';
import type { StoredObject } from '../model/kind.js';
import { volumeKind } from '../model/kinds/index.js';
import { itemPath } from './paths.js';

/** Where an agent serves volume operations to the API server (node/agent/volumes-endpoint.ts): this, then the operation. */
export const AGENT_VOLUME_OPS = '/v1/volumes/';

/** What an operation answers: the object it made or changed, and one line for a person. */
export interface VolumeOpResult {
  object: StoredObject;
  message: string;
}

export type VolumeOp =
  | { op: 'snapshots'; body: { name: string } }
  | { op: 'restore'; body: { snapshot: string } }
  | { op: 'clone'; body: { name: string; snapshot?: string } }
  | { op: 'resize'; body: { size: string } };

/** POST /v1/projects/P/volumes/V/{snapshots,restore,clone,resize}. */
export function volumeOp(api: ApiClient, project: string, volume: string, o: VolumeOp): Promise<VolumeOpResult> {
  return api.request<VolumeOpResult>('POST', `${itemPath(volumeKind, volume, project)}/${o.op}`, { body: o.body });
}
