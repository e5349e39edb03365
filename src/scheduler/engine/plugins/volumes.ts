/**
 * Volumes live on one node: an instance that uses one runs there, and nowhere while another
 * instance uses it. The constraint comes compiled into the request (`req.volume`, from the
 * engine's VolumeLocator: the live scheduler's view of volumes and the instances using them);
 * this static filter applies it. Its verdicts are `unresolvable`: evicting instances frees no
 * volume (the volume's user is not preempted for it).
 *
 *   volume on n2, node n1        → `volume "data" is on node n2`
 *   volume's node not in cluster → `volume "data" is on node n2, which is not in the cluster`
 *   volume used by another       → `volume "data" is in use by instance "db-0"` (every node)
 */
import type { NodeState } from '../node-state.js';
import { FITS, unresolvable, type CompiledRequest, type FilterPlugin, type FilterResult, type VolumeConstraint } from '../types.js';

const verdicts = new WeakMap<VolumeConstraint, FilterResult>();

export const volumeFilter = {
  name: 'Volume',
  static: true,
  filter(req: CompiledRequest, node: NodeState): FilterResult {
    const v = req.volume;
    if (!v || v.node === node.name) return FITS;
    let verdict = verdicts.get(v);
    if (!verdict) verdicts.set(v, (verdict = unresolvable(v.reason)));
    return verdict;
  },
} satisfies FilterPlugin;
