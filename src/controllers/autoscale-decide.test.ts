import { describe, it, expect } from 'vitest';
import { decide, type DecideInput } from './autoscale-decide.js';

const NOW = 1_000_000;
const S = 1000;

/** A policy of min 1, max 10, target 60 (% of request), 10 % tolerance, 15 s up / 120 s down cooldowns and window. */
function input(over: Partial<DecideInput>): DecideInput {
  return {
    now: NOW, current: 2, replicas: [], target: 60, min: 1, max: 10, tolerance: 0.1,
    scaleUpCooldownMs: 15 * S, scaleDownCooldownMs: 120 * S, windowMs: 120 * S, window: [], ...over,
  };
}

const ready = (...values: (number | undefined)[]) => values.map((value) => ({ ready: true, ...(value === undefined ? {} : { value }) }));
const unready = (n: number) => Array.from({ length: n }, () => ({ ready: false }));

describe('decide', () => {
  const table: { name: string; in: Partial<DecideInput>; desired: number; action: string; why?: RegExp; recommended?: number }[] = [
    // (120 + 120) / 2 = 120; 120 / 60 = 2.0; ceil(2.0 × 2) = 4
    { name: 'proportional scale-up', in: { replicas: ready(120, 120) }, desired: 4, action: 'up', recommended: 4 },
    // 65 / 60 = 1.083: within 10 %
    { name: 'within the tolerance: keep', in: { replicas: ready(65, 65) }, desired: 2, action: 'keep', why: /tolerance/ },
    // 30 / 60 = 0.5; ceil(0.5 × 2) = 1; no earlier recommendation, no scaling before
    { name: 'proportional scale-down when the window and cooldown allow', in: { replicas: ready(30, 30) }, desired: 1, action: 'down', recommended: 1 },
    { name: 'no measurement at all: keep, never down', in: { replicas: ready(undefined, undefined) }, desired: 2, action: 'keep', why: /no measurement/ },
    { name: 'no ready replica: keep', in: { replicas: unready(2) }, desired: 2, action: 'keep', why: /no ready replica/ },
    // down: the unmeasured one counts at the target: (10 + 60) / 2 / 60 = 0.583; ceil(0.583 × 2) = 2 → keep
    { name: 'missing samples count at the target when going down', in: { replicas: ready(10, undefined) }, desired: 2, action: 'keep', why: /1 unmeasured counted at the target/ },
    // up: the unready one counts at 0: (120 + 0) / 2 / 60 = 1.0 → within tolerance once filled in
    { name: 'unready replicas count at 0 when going up', in: { replicas: [...ready(120), ...unready(1)] }, desired: 2, action: 'keep', why: /within tolerance once filled in/ },
    // (180 + 0) / 2 / 60 = 1.5; ceil(1.5 × 2) = 3
    { name: 'up with an unready replica counted at 0 still goes up', in: { replicas: [...ready(180), ...unready(1)] }, desired: 3, action: 'up' },
    { name: 'scale-up cooldown holds', in: { replicas: ready(120, 120), lastScaleUp: NOW - 5 * S }, desired: 2, action: 'hold', why: /scale-up cooldown: 10 s left/ },
    { name: 'scale-up cooldown over', in: { replicas: ready(120, 120), lastScaleUp: NOW - 15 * S }, desired: 4, action: 'up' },
    { name: 'scale-down cooldown after a scale-up holds', in: { replicas: ready(30, 30), lastScaleUp: NOW - 100 * S }, desired: 2, action: 'hold', why: /scale-down cooldown: 20 s left/ },
    { name: 'a scale-down may follow a scale-down: the window paces them, not the cooldown', in: { replicas: ready(30, 30), lastScaleDown: NOW - 5 * S }, desired: 1, action: 'down' },
    // a recommendation of 2 made 30 s ago is in the window: no flapping down to 1
    { name: 'the window holds a scale-down', in: { replicas: ready(30, 30), window: [{ at: NOW - 30 * S, replicas: 2 }] }, desired: 2, action: 'hold', why: /window \(120 s\) recommended 2/ },
    { name: 'a recommendation older than the window no longer holds', in: { replicas: ready(30, 30), window: [{ at: NOW - 120 * S, replicas: 2 }] }, desired: 1, action: 'down' },
    // 5 replicas at 6 %: 1 wanted, but 3 was recommended 30 s ago: down to 3 only
    { name: 'down only to the highest recommendation of the window', in: { current: 5, replicas: ready(6, 6, 6, 6, 6), window: [{ at: NOW - 30 * S, replicas: 3 }] }, desired: 3, action: 'down', why: /highest is 3/ },
    // 10 × 600 / 60 = 100 wanted: max 10
    { name: 'never above max', in: { current: 10, replicas: ready(...Array(10).fill(600)) }, desired: 10, action: 'keep', recommended: 10 },
    { name: 'up stops at max', in: { replicas: ready(600, 600) }, desired: 10, action: 'up', recommended: 10 },
    { name: 'never below min', in: { min: 2, replicas: ready(1, 1) }, desired: 2, action: 'keep', recommended: 2 },
    { name: 'below min (the policy changed): up at once, cooldown or not', in: { min: 3, current: 1, lastScaleUp: NOW - S, replicas: ready(10) }, desired: 3, action: 'up', why: /outside min 3/ },
    { name: 'above max: down at once, window or not', in: { max: 3, current: 5, window: [{ at: NOW - S, replicas: 5 }] }, desired: 3, action: 'down', why: /outside/ },
  ];
  for (const t of table) {
    it(t.name, () => {
      const d = decide(input(t.in));
      expect({ desired: d.desired, action: d.action }).toEqual({ desired: t.desired, action: t.action });
      if (t.why) expect(d.reason).toMatch(t.why);
      if (t.recommended !== undefined) expect(d.recommended).toBe(t.recommended);
    });
  }

  it('keeps its recommendation in the window it returns, and drops those older than the window', () => {
    const d = decide(input({ replicas: ready(120, 120), window: [{ at: NOW - 200 * S, replicas: 9 }, { at: NOW - 10 * S, replicas: 3 }] }));
    expect(d.window).toEqual([{ at: NOW - 10 * S, replicas: 3 }, { at: NOW, replicas: 4 }]);
  });

  it('a load that comes and goes within the window does not flap: up at once, down only after the window', () => {
    let state = { current: 1, window: [] as { at: number; replicas: number }[], lastScaleUp: undefined as number | undefined, lastScaleDown: undefined as number | undefined };
    const counts: number[] = [];
    // 5 s steps: 60 s of load worth 3 replicas at the target (spread over the replicas), then 200 s idle
    for (let t = 0; t <= 260; t += 5) {
      const value = t < 60 ? 180 : 5;
      const now = NOW + t * S;
      const d = decide(input({ now, current: state.current, replicas: ready(...Array(state.current).fill(value / state.current)), window: state.window, lastScaleUp: state.lastScaleUp, lastScaleDown: state.lastScaleDown }));
      state = { current: d.desired, window: d.window, lastScaleUp: d.action === 'up' ? now : state.lastScaleUp, lastScaleDown: d.action === 'down' ? now : state.lastScaleDown };
      counts.push(d.desired);
    }
    expect(counts[0]).toBe(3); // at once
    expect(Math.max(...counts)).toBeLessThanOrEqual(10);
    // once up, no step down before the window (120 s) has passed since the last loaded sample (t = 55)
    const firstDown = counts.findIndex((c, i) => i > 0 && c < counts[i - 1]!);
    expect(firstDown * 5).toBe(55 + 120);
    expect(counts.at(-1)).toBe(1);
    // never back up after going down (no flapping)
    expect(counts.slice(firstDown).every((c, i, a) => i === 0 || c <= a[i - 1]!)).toBe(true);
  });
});
