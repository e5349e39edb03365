/** Conditions: named True/False/Unknown facts about an object, each with why and since when. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

/** Sets `c` in `list` (replacing the one of the same type); the transition time moves only when the status does. */
export function setCondition(list: readonly Condition[] | undefined, c: Condition, now: string): Condition[] {
  const prev = list?.find((x) => x.type === c.type);
  const next: Condition = { ...c, lastTransitionTime: prev && prev.status === c.status ? prev.lastTransitionTime ?? now : now };
  return [...(list ?? []).filter((x) => x.type !== c.type), next];
}

export function conditionOf(list: readonly Condition[] | undefined, type: string): Condition | undefined {
  return list?.find((x) => x.type === type);
}

export function isTrue(list: readonly Condition[] | undefined, type: string): boolean {
  return conditionOf(list, type)?.status === 'True';
}
