/** The built-in plugins, for composing or testing engines. */
export { nodeHealth, nodeName, nodeSelector, zones } from './node-filters.js';
export { nodeCapacity, nodeResources, capacityVerdict, freeVerdict, resourceVerdict } from './resources.js';
export { binpack, leastAllocated, bestfit, dotprod, gpuClustering, gpuPacking, randomFit } from './scores.js';
export { interInstanceAffinity } from './affinity.js';
export { spreadConstraints } from './spread.js';
export { defaultPreemption, minimalVictims } from './preemption.js';
export { fgdScore } from '../fgd/plugin.js';
