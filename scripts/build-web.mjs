// Bundles the dashboard (web/src/main.tsx, Preact) into web/dist/ with esbuild: one script and one
// stylesheet named by their content hash (served as immutable by src/server/ui.ts) and index.html
// naming them. Built beside web/dist and swapped in, as dist/ is. Browser-side stand-ins
// (web/src/shims/) replace the few Node modules the kind descriptors reach: node:path's posix
// normalize, and TypeBox's compiler, whose generated code the dashboard's CSP (no 'unsafe-eval')
// would refuse, by the same checks interpreted.
import { build } from 'esbuild';
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';

const root = resolve(import.meta.dirname, '..');
const shims = {
  name: 'browser-shims',
  setup(b) {
    b.onResolve({ filter: /^node:path$/ }, () => ({ path: resolve(root, 'web/src/shims/node-path.ts') }));
    b.onResolve({ filter: /^@sinclair\/typebox\/compiler$/ }, () => ({ path: resolve(root, 'web/src/shims/typebox-compiler.ts') }));
  },
};

/** Builds web/dist; returns the gzipped size of the script and the stylesheet in bytes. */
export async function buildWeb({ minify = true } = {}) {
  const out = resolve(root, 'web/dist');
  const next = `${out}.next-${process.pid}`;
  rmSync(next, { recursive: true, force: true });
  mkdirSync(next, { recursive: true });
  const result = await build({
    entryPoints: [resolve(root, 'web/src/main.tsx')],
    outdir: resolve(next, 'assets'),
    entryNames: '[name]-[hash]',
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox110', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify,
    sourcemap: 'linked',
    metafile: true,
    legalComments: 'linked',
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
    plugins: [shims],
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const script = outputs.find((n) => n.endsWith('.js'));
  const style = outputs.find((n) => n.endsWith('.css'));
  const html = readFileSync(resolve(root, 'web/index.html'), 'utf8')
    .replace('%SCRIPT%', `/ui/assets/${script}`)
    .replace('%STYLE%', `/ui/assets/${style}`);
  writeFileSync(resolve(next, 'index.html'), html);
  const old = `${out}.old-${process.pid}`;
  if (existsSync(out)) renameSync(out, old);
  renameSync(next, out);
  rmSync(old, { recursive: true, force: true });
  // Compressed copies beside each file: @fastify/static sends the one the browser accepts (preCompressed).
  for (const name of [script, style]) {
    const file = resolve(out, 'assets', name);
    const data = readFileSync(file);
    writeFileSync(`${file}.gz`, gzipSync(data, { level: 9 }));
    writeFileSync(`${file}.br`, brotliCompressSync(data));
  }
  const gz = (n) => statSync(resolve(out, 'assets', `${n}.gz`)).size;
  return { script: gz(script), style: gz(style) };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const sizes = await buildWeb();
  console.log(`web/dist: script ${(sizes.script / 1024).toFixed(1)} KiB gzipped, style ${(sizes.style / 1024).toFixed(1)} KiB gzipped`);
}
