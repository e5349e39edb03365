/**
 * The placement engine: (instances to place, cluster snapshot) → Plan. Pure: no I/O, no store,
 * no clock; randomness is injected. See ../README.md for the flow and the contracts.
 */
export { createEngine, Engine, fitsNode, DEFAULT_FILTERS, DEFAULT_CLUSTER_PLUGINS, DEFAULT_POST_FILTERS } from './engine.js';
export type { EngineOptions, ScheduleOptions } from './engine.js';
export { ClusterSnapshot, occupiesNode, OCCUPYING_PHASES } from './snapshot.js';
export { formatExplanation, NO_NODES } from './explain.js';
export { WorkloadModel } from './fgd/workload.js';
export type { WorkloadModelOptions, TypicalShape } from './fgd/workload.js';
export { createRng, shuffle } from './rng.js';
export { compileRequest, demandOf, instanceKey } from './request.js';
export { buildPolicies } from './policies.js';
export type { Policy, WeightedScore } from './policies.js';
export { MILLI, NODE_LABEL, POOL_LABEL, ZONE_LABEL } from './node-state.js';
export type { NodeState } from './node-state.js';
export * as plugins from './plugins/index.js';
export type * from './types.js';
export { FITS, unresolvable, unschedulable } from './types.js';
