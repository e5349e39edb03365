/**
 * What a node's agent found missing among the host packages its drivers and networking use
 * (runc, tini, nftables, iproute2, busybox; `scripts/install-deps.sh` installs them), read from
 * its fingerprint: the drivers' notes and the Networking condition of its node's status.
 */
import type { Node } from '../model/kinds/node.js';

/** The one command that adds them, as the README says. */
export const INSTALL_DEPS = 'sudo scripts/install-deps.sh';

/** A note that only says how to fix what the note before it said. */
const ADVICE = /^run scripts\/install-deps\.sh/;

/** What the agent says when something of the host is not installed. */
const MISSING = /not installed|need runc|no tini|not found|install-deps/;

/** One line per missing capability: "container driver: runc is not installed". */
export function missingHostPackages(node: Pick<Node, 'status'>): string[] {
  const out: string[] = [];
  for (const d of node.status?.drivers ?? []) {
    const notes = (d.message ?? '').split('; ').filter((n) => MISSING.test(n) && !ADVICE.test(n));
    for (const note of notes) out.push(`${d.name} driver${d.healthy ? '' : ' (unavailable)'}: ${plain(note)}`);
  }
  const net = node.status?.conditions?.find((c) => c.type === 'Networking');
  if (net?.message && MISSING.test(net.message)) out.push(`per-project networks: ${plain(net.message)}`);
  return [...new Set(out)];
}

/** Without the advice each note carries: the banner gives the one command once. */
function plain(note: string): string {
  return note.replace(/[;:,]?\s*run scripts\/install-deps\.sh.*$/, '').replace(/\s*\(scripts\/install-deps\.sh\)/, '').trim();
}
