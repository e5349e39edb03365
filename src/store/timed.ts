/**
 * A backend whose writes are timed: each txn's latency and outcome go to an observer (the server's
 * /metrics, src/server/metrics.ts). Everything else passes through unchanged.
 */
import { TxnConflict, type Backend } from './backend.js';

/** `backend`, with each txn's latency and outcome (ok, conflict, error) told to `observe`. Everything else passes through. */
export function timedBackend(backend: Backend, observe: (seconds: number, result: 'ok' | 'conflict' | 'error') => void): Backend {
  const txn: Backend['txn'] = async (ops) => {
    const started = performance.now();
    try {
      const r = await backend.txn(ops);
      observe((performance.now() - started) / 1000, 'ok');
      return r;
    } catch (e) {
      observe((performance.now() - started) / 1000, e instanceof TxnConflict ? 'conflict' : 'error');
      throw e;
    }
  };
  return new Proxy(backend, {
    get(target, prop) {
      if (prop === 'txn') return txn;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
