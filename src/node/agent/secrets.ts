/**
 * The secrets of a run: the agent asks the control plane for the values an instance bound to its
 * node uses (`GET /v1/projects/P/instances/I/secrets`, which answers only for such instances and
 * only with the keys the instance references), and turns them into plain env values and files.
 *
 * Values never go to a log or into an error message: errors name the field, the secret and the key.
 */
import { posix } from 'node:path';
import type { ApiClient } from '../../client/index.js';
import { instanceSecrets, type InstanceSecrets } from '../../client/routes.js';
import type { TaskFile } from '../drivers/index.js';
import type { Instance, InstanceSpec, RunSpec } from '../../model/kinds/instance.js';
import { isEnvFromSecret, mountPathOf, mountPathProblem, secretRefsOf, MAX_ENV_VALUE } from '../../model/secret-refs.js';

/** The spec with env references replaced by values, and the files of the mounted secrets. */
export async function resolveSecrets(inst: Instance, api: ApiClient): Promise<{ spec: RunSpec; files: TaskFile[] }> {
  if (secretRefsOf(inst.spec).length === 0) return { spec: inst.spec as RunSpec, files: [] };
  const got = await instanceSecrets(api, inst.metadata.project!, inst.metadata.name);
  return materialize(inst.spec, got);
}

/**
 * Pure: env values from the secrets (text without NUL, at most 32768 characters), and one file
 * per key of each mounted secret at <path>/<key>, mode 0400. Throws naming the field when a
 * secret or key is missing or a value cannot be an environment variable.
 */
export function materialize(spec: InstanceSpec, got: InstanceSecrets): { spec: RunSpec; files: TaskFile[] } {
  const secrets = new Map(got.items.map((s) => [s.name, s.data]));
  const valueOf = (secret: string, field: string) => {
    const data = secrets.get(secret);
    if (!data) throw new Error(`${field}: secret "${secret}" was not found`);
    return data;
  };
  const env: Record<string, string> = {};
  for (const [name, v] of Object.entries(spec.env ?? {})) {
    if (!isEnvFromSecret(v)) {
      env[name] = v;
      continue;
    }
    const { secret, key } = v.valueFrom;
    const field = `spec.env.${name}`;
    const b64 = valueOf(secret, field)[key];
    if (b64 === undefined) throw new Error(`${field}: secret "${secret}" has no key "${key}"`);
    env[name] = envValue(b64, `${field}: key "${key}" of secret "${secret}"`);
  }
  const files: TaskFile[] = [];
  (spec.secrets ?? []).forEach((m, i) => {
    const data = valueOf(m.secret, `spec.secrets[${i}]`);
    const problem = mountPathProblem(mountPathOf(m));
    if (problem) throw new Error(`spec.secrets[${i}].path: ${problem}`);
    for (const [key, b64] of Object.entries(data).sort(([a], [b]) => a.localeCompare(b))) {
      files.push({ path: posix.join(mountPathOf(m), key), data: b64, mode: 0o400 });
    }
  });
  const { env: _refs, ...rest } = spec;
  return { spec: { ...rest, ...(spec.env ? { env } : {}) }, files };
}

function envValue(b64: string, what: string): string {
  const bytes = Buffer.from(b64, 'base64');
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) throw new Error(`${what} is not UTF-8 text and cannot be an environment variable; mount the secret as files instead`);
  if (text.includes('\0')) throw new Error(`${what} contains a NUL byte and cannot be an environment variable; mount the secret as files instead`);
  if (text.length > MAX_ENV_VALUE) throw new Error(`${what} is ${text.length} characters long; environment values are limited to ${MAX_ENV_VALUE}: mount the secret as files instead`);
  return text;
}
