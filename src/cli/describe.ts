/**
 * `stratus describe`: one object for people, with why it is in the state it is in. What is the
 * same for every kind is here (metadata, owner, deletion, spec, events); a kind's status comes
 * from its description (`describe` in model/kinds/*.ts), or as YAML.
 */
import { yaml } from './yaml.js';
import { deletionOf, type DescribeLine, type Kind, type StoredObject } from '../model/kind.js';
import { findKind } from '../model/kinds/index.js';
import type { StratusEvent } from '../model/kinds/event.js';
import { age, plural } from '../model/format.js';
import { table } from './output.js';
import { objectForPeople } from '../model/quantity-fields.js';

export function describeObject(kind: Kind, obj: StoredObject, events: StoredObject[]): string {
  const m = obj.metadata;
  const out: string[] = [];
  const field = (k: string, v: string | undefined) => {
    if (v !== undefined && v !== '') out.push(`${(k + ':').padEnd(14)}${v}`);
  };
  field('Name', m.name);
  field('Kind', kind.kind);
  field('Project', m.project);
  field('Labels', Object.entries(m.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || '<none>');
  field('Annotations', Object.entries(m.annotations ?? {}).map(([k, v]) => `${k}=${v}`).join(', '));
  field('Created', `${m.createdAt} (${age(m.createdAt)} ago)${m.createdBy ? ` by ${m.createdBy}` : ''}`);
  field('Revision', `${m.revision} (generation ${m.generation})`);
  field('Owner', m.owner ? `${m.owner.kind}/${m.owner.name}` : undefined);
  out.push(...deletionLines(obj));
  if (kind.describe) out.push(...render(kind.describe(obj)));
  const shown = objectForPeople(kind, obj);
  out.push('Spec:', indent(yaml().stringify(shown.spec).trimEnd()));
  // A kind that describes itself shows its status in its own words; the others as YAML (less the deletion, shown above).
  const { deletion: _shownAbove, ...status } = (shown.status ?? {}) as Record<string, unknown>;
  if (obj.status && !kind.describe && Object.keys(status).length > 0) out.push('Status:', indent(yaml().stringify(status).trimEnd()));
  out.push('Events:');
  if (events.length === 0) out.push('  <none>');
  else {
    const rows = (events as StratusEvent[])
      .sort((a, b) => (a.spec.lastTime ?? a.metadata.createdAt).localeCompare(b.spec.lastTime ?? b.metadata.createdAt))
      .slice(-20)
      .map((e) => [age(e.spec.lastTime ?? e.metadata.createdAt), e.spec.type, e.spec.reason, e.spec.count && e.spec.count > 1 ? `(x${e.spec.count}) ${e.spec.message}` : e.spec.message]);
    out.push(indent(table(['AGE', 'TYPE', 'REASON', 'MESSAGE'], rows)));
  }
  return out.join('\n');
}

/** The lines a kind's `describe` gives (its status in its own words), as text. */
function render(lines: DescribeLine[]): string[] {
  return lines.map((l) => {
    if ('field' in l) return `${`${l.field}:`.padEnd(14)}${l.value}`;
    if ('text' in l) return l.text;
    return `${l.title}:\n${indent(table(l.headers, l.rows))}`;
  });
}

/** While the object is being deleted (status.deletion): since when, and what it still waits for. */
export function deletionLines(obj: StoredObject): string[] {
  const d = deletionOf(obj);
  if (!d) return [];
  const out = [`${'Deleting:'.padEnd(14)}since ${d.startedAt} (${age(d.startedAt)} ago)`];
  const left = d.waitingFor.filter((w) => w.count > 0);
  if (left.length === 0) out.push('  waiting for nothing: the object itself goes next');
  for (const w of left) {
    const more = (w.names?.length ?? 0) < w.count ? ', ...' : '';
    out.push(`  waiting for ${plural(w.count, w.kind, findKind(w.kind)?.plural)}${w.names?.length ? ` (${w.names.join(', ')}${more})` : ''}`);
  }
  if (d.message) out.push(`  ${d.message}`);
  return out;
}

function indent(text: string): string {
  return text.split('\n').map((l) => `  ${l}`).join('\n');
}
