import { describe, it, expect } from 'vitest';
import { parseObject } from '../kind.js';
import { serviceKind } from './index.js';
import { ValidationError } from '../errors.js';
import { replicasOf, type Service } from './service.js';
import { describeAutoscale, timingsOf } from './service-autoscale.js';

const base = { kind: 'service', metadata: { name: 'web' }, spec: { replicas: 1, template: { spec: { driver: 'process', command: ['sleep', '1'] } } } };
const auto = (a: Record<string, unknown>) => ({ ...base, spec: { ...base.spec, autoscale: { min: 1, max: 5, metric: 'cpu', target: 60, ...a } } });

function problems(body: unknown): string[] {
  try {
    parseObject(serviceKind, body);
    return [];
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    return e.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

describe('service spec.autoscale', () => {
  it('is accepted with its defaults filled in by timingsOf', () => {
    expect(problems(auto({}))).toEqual([]);
    const { spec } = parseObject(serviceKind, auto({ scaleUpCooldown: '5s', window: '30s' }));
    expect(timingsOf((spec as Service['spec']).autoscale!)).toEqual({ scaleUpCooldownMs: 5000, scaleDownCooldownMs: 120_000, windowMs: 30_000, tolerance: 0.1 });
  });

  it.each([
    [{ min: 4, max: 2 }, 'spec.autoscale.max: 2 is less than min (4)'],
    [{ max: 10001 }, 'spec.autoscale.max: 10001 is more than the maximum 10000'],
    [{ min: 0 }, 'spec.autoscale.min: 0 is less than the minimum 1'],
    [{ target: 0 }, 'spec.autoscale.target'],
    [{ target: 150 }, 'spec.autoscale.target: 150 is above 100: the target is a percent of each replica\'s cpu request, which is also its limit'],
    [{ metric: 'requests-per-second' }, 'spec.autoscale.metric: "requests-per-second" is not a metric Stratus measures: one of cpu, memory, connections-per-second (the load balancer counts connections, not HTTP requests'],
    [{ metric: 'custom' }, 'spec.autoscale.metric: "custom" is not a metric Stratus measures'],
    [{ scaleDownCooldown: 'soon' }, 'spec.autoscale.scaleDownCooldown: "soon" is not a duration (use e.g. "15s", "2m" or "500ms")'],
    [{ window: '48h' }, 'spec.autoscale.window: "48h" is longer than a day (at most "24h")'],
    [{ speed: 2 }, 'spec.autoscale.speed: unknown field'],
  ])('%j is refused, naming the field', (a, message) => {
    const found = problems(auto(a));
    expect(found.some((p) => p.startsWith(message)), found.join('\n')).toBe(true);
  });

  it('connections-per-second takes any positive target', () => {
    expect(problems(auto({ metric: 'connections-per-second', target: 250 }))).toEqual([]);
  });
});

describe('replicasOf', () => {
  const svc = (spec: Partial<Service['spec']>, status?: Service['status']) => ({ spec: { replicas: 3, template: { spec: {} }, ...spec }, status }) as unknown as Service;
  it('is spec.replicas without autoscale, whatever the status says', () => {
    expect(replicasOf(svc({}, { autoscale: { desiredReplicas: 7 } }))).toBe(3);
  });
  it('is the autoscaler\'s count with autoscale, spec.replicas (within min and max) before its first decision', () => {
    const a = { min: 2, max: 4, metric: 'cpu' as const, target: 50 };
    expect(replicasOf(svc({ autoscale: a }))).toBe(3);
    expect(replicasOf(svc({ autoscale: a, replicas: 9 }))).toBe(4);
    expect(replicasOf(svc({ autoscale: a }, { autoscale: { desiredReplicas: 2 } }))).toBe(2);
    expect(replicasOf(svc({ autoscale: a }, { autoscale: { desiredReplicas: 1 } }))).toBe(2);
  });
});

describe('describeAutoscale', () => {
  it('shows the metric, the target, the desired count, why, and the last decisions', () => {
    const lines = describeAutoscale({ min: 1, max: 5, metric: 'cpu', target: 60 }, {
      desiredReplicas: 3, current: 95.24, recommended: 5, reason: 'average 95.2 against target 60', blocked: 'project "p" cpu quota: room for 2 more',
      decisions: [{ at: '2026-01-01T00:00:00.000Z', from: 1, to: 3, reason: 'average 180 against target 60' }],
    }, 1);
    const text = JSON.stringify(lines);
    for (const s of ['1-5 replicas on cpu, target 60% of request per replica', '95.2%', '3 replicas (metric alone: 5)', 'average 95.2 against target 60', 'room for 2 more', 'average 180 against target 60']) expect(text).toContain(s);
  });
});
