/**
 * Incremental nftables updates: the transaction that turns the applied ruleset into the next one
 * by element and chain commands, when only the dynamic parts differ (instances coming and going,
 * service backends, security groups). One `nft -f` of a few lines instead of re-creating both
 * tables; still one atomic transaction. Pure.
 */
import type { RenderedRules } from './firewall.js';

/**
 * The commands that change `before` (what is applied) into `after`, in an order nft accepts
 * within one transaction: new and changed chains first (map elements may jump to them), then
 * element deletions, then additions, then the chains nothing refers to any more. Undefined when
 * the skeletons differ (a full reload is needed); '' when nothing changes.
 */
export function updateScript(table: string, before: RenderedRules, after: RenderedRules): string | undefined {
  if (before.skeleton !== after.skeleton || after.skeleton === '') return undefined;
  const lines: string[] = [];
  const counters = new Set(before.counters);
  // counters first (the new chains' rules name them), deleted last (after the chains naming them)
  for (const name of after.counters) if (!counters.has(name)) lines.push(`add counter ip ${table} ${name}`);
  for (const [name, rules] of after.chains) {
    const old = before.chains.get(name);
    if (old && sameList(old, rules)) continue;
    lines.push(old ? `flush chain ip ${table} ${name}` : `add chain ip ${table} ${name}`);
    for (const r of rules) lines.push(`add rule ip ${table} ${name} ${r}`);
  }
  const adds: string[] = [];
  for (const [key, elements] of after.sets) {
    const [family, name] = key.split(' ');
    const old = new Set(before.sets.get(key) ?? []);
    const now = new Set(elements);
    const gone = [...old].filter((e) => !now.has(e)).map(keyOfElement);
    const added = elements.filter((e) => !old.has(e));
    if (gone.length) lines.push(`delete element ${family} ${table} ${name} { ${gone.join(', ')} }`);
    if (added.length) adds.push(`add element ${family} ${table} ${name} { ${added.join(', ')} }`);
  }
  lines.push(...adds);
  for (const name of before.chains.keys()) if (!after.chains.has(name)) lines.push(`delete chain ip ${table} ${name}`);
  const kept = new Set(after.counters);
  for (const name of before.counters) if (!kept.has(name)) lines.push(`delete counter ip ${table} ${name}`);
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** A map element is deleted by its key alone. */
function keyOfElement(element: string): string {
  const i = element.indexOf(' : ');
  return i < 0 ? element : element.slice(0, i);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
