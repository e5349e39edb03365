/** Bounds the nesting of request bodies, so no recursive step can overflow the stack. */
export const MAX_DEPTH = 64;

/** The deepest nesting of objects/arrays in JSON text, scanning without recursion. */
export function jsonDepth(text: string, stopAt = MAX_DEPTH + 1): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) max = depth;
      if (max >= stopAt) return max;
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

/** The deepest nesting of a parsed value, iteratively. */
export function valueDepth(value: unknown, stopAt = MAX_DEPTH + 1): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    const depth = d + 1;
    if (depth > max) max = depth;
    if (max >= stopAt) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth]);
  }
  return max;
}
