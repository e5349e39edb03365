/**
 * The part of `node:path` the model's code uses (`posix.normalize`, secret-refs.ts), for the
 * browser bundle: scripts/build.mjs points `node:path` here. Same results as Node's for the
 * paths the model checks (absolute or relative, "." and ".." folded, repeated slashes merged).
 */
function normalize(path: string): string {
  if (path === '') return '.';
  const absolute = path.startsWith('/');
  const trailing = path.endsWith('/');
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!absolute) out.push('..');
      continue;
    }
    out.push(part);
  }
  let result = out.join('/');
  if (result === '' && !absolute) result = '.';
  if (trailing && result !== '' && result !== '.') result += '/';
  return (absolute ? '/' : '') + result;
}

export const posix = { normalize };
export default { posix };
