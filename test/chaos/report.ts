/**
 * What each chaos scenario found, as a row of the table in docs/reliability.md: printed to the
 * test log, and appended as a JSON line to $STRATUS_CHAOS_OUT when set (`npm run chaos` sets it
 * and writes the table from the rows: scripts/chaos.mjs).
 */
import { appendFileSync } from 'node:fs';

export interface ChaosRow {
  scenario: string;
  /** What was done to the cloud, e.g. "5 leader SIGKILLs". */
  fault: string;
  /** Operations acknowledged (writes, replicas, instances) during the scenario. */
  operations: number;
  lost: number;
  duplicated: number;
  /** Time until the cloud served again after each fault, ms. */
  recoverMs: number[];
  notes?: string;
}

/** How hard the suite pushes: `ci` (the default, within CI's time budget) or `soak` (npm run chaos). */
export const SCALE = process.env.STRATUS_CHAOS_SCALE === 'soak' ? 'soak' : 'ci';

export function report(row: ChaosRow): void {
  const sorted = [...row.recoverMs].sort((a, b) => a - b);
  const p50 = sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)]! : 0;
  const max = sorted.length ? sorted[sorted.length - 1]! : 0;
  console.log(`chaos | ${row.scenario} | ${row.fault} | ops ${row.operations} | lost ${row.lost} | duplicated ${row.duplicated} | recover p50 ${p50} ms, max ${max} ms${row.notes ? ` | ${row.notes}` : ''}`);
  if (process.env.STRATUS_CHAOS_OUT) appendFileSync(process.env.STRATUS_CHAOS_OUT, `${JSON.stringify({ ...row, scale: SCALE, at: new Date().toISOString() })}\n`);
}
