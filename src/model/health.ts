/**
 * Health checks of an instance, and the conditions that report them. The agent of the instance's
 * node runs the checks; services count an instance as ready once its Ready condition is True.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Strict } from './schema.js';
import type { FieldProblem } from './errors.js';

export const HealthCheckSchema = Type.Object(
  {
    http: Type.Optional(Type.Object({
      port: Type.Integer({ minimum: 1, maximum: 65535 }),
      path: Type.Optional(Type.String({ pattern: '^/', maxLength: 2048, description: 'Default /.' })),
    }, { ...Strict, description: 'Healthy when GET answers 2xx or 3xx.' })),
    tcp: Type.Optional(Type.Object({ port: Type.Integer({ minimum: 1, maximum: 65535 }) }, { ...Strict, description: 'Healthy when a connection opens.' })),
    command: Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { minItems: 1, maxItems: 64, description: 'Healthy when it exits 0 (run inside the instance).' })),
    interval: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, description: 'Seconds between checks. Default 10.' })),
    timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: 600, description: 'Seconds a check may take. Default 2.' })),
    successThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Passes in a row to become ready. Default 1.' })),
    failureThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Failures in a row to become unready. Default 3.' })),
    initialDelay: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600, description: 'Seconds after start before the first check. Default 0.' })),
  },
  { ...Strict, description: 'How the platform tells that the instance serves. Exactly one of http, tcp, command.' },
);

export type HealthCheck = Static<typeof HealthCheckSchema>;

export interface ResolvedHealthCheck {
  kind: 'http' | 'tcp' | 'command';
  port?: number;
  path?: string;
  command?: string[];
  intervalMs: number;
  timeoutMs: number;
  successThreshold: number;
  failureThreshold: number;
  initialDelayMs: number;
}

export function healthProblems(h: HealthCheck | undefined, path: string): FieldProblem[] {
  if (!h) return [];
  const kinds = [h.http, h.tcp, h.command].filter((x) => x !== undefined).length;
  if (kinds !== 1) return [{ path, message: `set exactly one of http, tcp, command (found ${kinds})` }];
  const timeout = h.timeout ?? 2;
  if (timeout > (h.interval ?? 10)) {
    const which = h.timeout === undefined ? `the default timeout (${timeout} s)` : `${timeout} s`;
    return [{ path: `${path}.timeout`, message: `${which} is longer than the interval (${h.interval ?? 10} s); set a timeout no longer than the interval` }];
  }
  return [];
}

export function resolveHealth(h: HealthCheck): ResolvedHealthCheck {
  const base = {
    intervalMs: (h.interval ?? 10) * 1000,
    timeoutMs: (h.timeout ?? 2) * 1000,
    successThreshold: h.successThreshold ?? 1,
    failureThreshold: h.failureThreshold ?? 3,
    initialDelayMs: (h.initialDelay ?? 0) * 1000,
  };
  if (h.http) return { ...base, kind: 'http', port: h.http.port, path: h.http.path ?? '/' };
  if (h.tcp) return { ...base, kind: 'tcp', port: h.tcp.port };
  return { ...base, kind: 'command', command: h.command! };
}
