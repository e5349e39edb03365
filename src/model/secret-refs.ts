/**
 * How instances (and service templates) use secrets of their own project:
 *
 *   env:
 *     DB_PASSWORD: {valueFrom: {secret: db, key: password}}   one key as an environment variable
 *   secrets:
 *     - {secret: db, path: /run/secrets/db}                    every key as a file <path>/<key>
 *
 * A reference names a secret of the instance's project only: there is no "project/name" form.
 * The schema pieces, the rules the schema cannot say, and the list of references, for admission,
 * the service controller and the agent. Pure.
 */
import { posix } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { DnsLabel, Strict } from './schema.js';
import { dnsLabelProblem } from './labels.js';
import type { FieldProblem } from './errors.js';

/** Key names: what a file name may safely be (Kubernetes' rule for secret keys). */
export const SECRET_KEY_RE = /^[A-Za-z0-9._-]{1,253}$/;

/** Why `key` is not a valid secret key name, or undefined. */
export function secretKeyProblem(key: string): string | undefined {
  if (!SECRET_KEY_RE.test(key) || key === '.' || key === '..') {
    return `${JSON.stringify(key.slice(0, 60))} is not a key name (1-253 letters, digits, ".", "_" and "-"; not "." or "..")`;
  }
  return undefined;
}

export const MAX_ENV_VALUE = 32768;

export const EnvFromSecretSchema = Type.Object(
  {
    valueFrom: Type.Object(
      {
        secret: Type.String({ maxLength: 253, description: 'A secret of the same project.' }),
        key: Type.String({ maxLength: 253, description: 'One of its keys.' }),
      },
      Strict,
    ),
  },
  Strict,
);

export type EnvFromSecret = Static<typeof EnvFromSecretSchema>;
export type EnvValue = string | EnvFromSecret;

/** An environment variable: a string, or one key of a secret of the same project. */
export const EnvValueSchema = Type.Union([Type.String(), EnvFromSecretSchema], {
  errorMessage: 'is neither a string nor {valueFrom: {secret: NAME, key: KEY}}',
});

export const SecretMountSchema = Type.Object(
  {
    secret: DnsLabel({ description: 'A secret of the same project.' }),
    path: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'Absolute directory where each key becomes a read-only file. Default /run/secrets/<secret>.' })),
  },
  Strict,
);

export type SecretMount = Static<typeof SecretMountSchema>;

export const SecretMountsSchema = Type.Array(SecretMountSchema, { maxItems: 16, description: 'Secrets of the project mounted as files inside the instance.' });

export function isEnvFromSecret(v: EnvValue | undefined): v is EnvFromSecret {
  return typeof v === 'object' && v !== null && 'valueFrom' in v;
}

export function mountPathOf(m: SecretMount): string {
  return m.path ?? `/run/secrets/${m.secret}`;
}

/**
 * Directories a secret may not be mounted at or under: kernel file systems and the system's own
 * directories (the workload sees the host's, read-only).
 */
export const SYSTEM_DIRS = ['/proc', '/sys', '/dev', '/etc', '/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/boot'];
/** Directories a mount may go under but not replace whole. */
export const TOP_DIRS = ['/', '/run', '/var', '/tmp', '/home', '/root', '/opt', '/srv', '/mnt', '/media'];

const PATH_RE = /^(\/[A-Za-z0-9._-]+)+$/;

/** Why `path` cannot hold a secret's files, or undefined. */
export function mountPathProblem(path: string): string | undefined {
  const shown = JSON.stringify(path.slice(0, 80));
  if (!path.startsWith('/')) return `${shown} is not an absolute path`;
  if (!PATH_RE.test(path) && path !== '/') return `${shown} is not a plain absolute path (letters, digits, ".", "_", "-" between single slashes, no trailing slash)`;
  if (posix.normalize(path) !== path || path.split('/').some((s) => s === '.' || s === '..')) return `${shown} is not normalized (no "." or ".." parts)`;
  const sys = SYSTEM_DIRS.find((d) => path === d || path.startsWith(`${d}/`));
  if (sys) return `${shown} is in ${sys}, a system directory; mount secrets elsewhere, e.g. /run/secrets/NAME`;
  if (TOP_DIRS.includes(path)) return `${shown} would hide the whole directory; use a directory of its own, e.g. /run/secrets/NAME`;
  return undefined;
}

/** One use of a secret by a spec. `key` absent: every key (a mount). `field`: where, for messages. */
export interface SecretRef {
  secret: string;
  key?: string;
  field: string;
}

interface UsesSecrets {
  env?: Record<string, EnvValue>;
  secrets?: SecretMount[];
}

/** Every use of a secret in `spec`, env first, in spec order. `at`: the spec's path (spec, spec.template.spec). */
export function secretRefsOf(spec: UsesSecrets, at = 'spec'): SecretRef[] {
  const out: SecretRef[] = [];
  for (const [name, v] of Object.entries(spec.env ?? {})) {
    if (isEnvFromSecret(v)) out.push({ secret: v.valueFrom.secret, key: v.valueFrom.key, field: `${at}.env.${name}.valueFrom` });
  }
  (spec.secrets ?? []).forEach((m, i) => out.push({ secret: m.secret, field: `${at}.secrets[${i}]` }));
  return out;
}

/** The names of the secrets `spec` uses, sorted, each once. */
export function secretNamesOf(spec: UsesSecrets): string[] {
  return [...new Set(secretRefsOf(spec).map((r) => r.secret))].sort();
}

/** Checks what the schema cannot: env value sizes, reference names, mount paths (and their overlaps). */
export function secretUseProblems(spec: UsesSecrets, problems: FieldProblem[], at: string): void {
  for (const [name, v] of Object.entries(spec.env ?? {})) {
    if (typeof v === 'string') {
      if (v.length > MAX_ENV_VALUE) problems.push({ path: `${at}.env.${name}`, message: `is ${v.length} characters long; at most ${MAX_ENV_VALUE} are allowed` });
      continue;
    }
    const nameProblem = dnsLabelProblem(v.valueFrom.secret);
    if (nameProblem) problems.push({ path: `${at}.env.${name}.valueFrom.secret`, message: `${nameProblem}; name a secret of this project`, value: v.valueFrom.secret });
    const keyProblem = secretKeyProblem(v.valueFrom.key);
    if (keyProblem) problems.push({ path: `${at}.env.${name}.valueFrom.key`, message: keyProblem, value: v.valueFrom.key });
  }
  const seen: { path: string; i: number }[] = [];
  (spec.secrets ?? []).forEach((m, i) => {
    const path = mountPathOf(m);
    const problem = mountPathProblem(path);
    if (problem) return void problems.push({ path: `${at}.secrets[${i}].path`, message: problem, value: path });
    const clash = seen.find((s) => s.path === path || path.startsWith(`${s.path}/`) || s.path.startsWith(`${path}/`));
    if (clash) problems.push({ path: `${at}.secrets[${i}].path`, message: `${JSON.stringify(path)} overlaps ${JSON.stringify(clash.path)} of secrets[${clash.i}]; give each secret a directory of its own`, value: path });
    seen.push({ path, i });
  });
}
