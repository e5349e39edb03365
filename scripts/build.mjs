// Transpiles src/**/*.ts to dist/ (one file per module, no bundling) with esbuild.
// Type checking is `npm run typecheck`; this only strips types, so it takes well under a second.
import { build } from 'esbuild';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWeb } from './build-web.mjs';

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

// Built beside dist/ and swapped in, so a CLI or test that runs during a rebuild never finds dist/ missing.
const next = `dist.next-${process.pid}`;
const old = `dist.old-${process.pid}`;
rmSync(next, { recursive: true, force: true });
await build({
  entryPoints: walk('src'),
  outdir: next,
  outbase: 'src',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
});
await vendorBundles(next);
if (existsSync('dist')) renameSync('dist', old);
renameSync(next, 'dist');
rmSync(old, { recursive: true, force: true });

// The dashboard (web/ → web/dist), served at /ui by src/server/ui.ts.
await buildWeb();

/**
 * @sinclair/typebox is some 270 ES modules: loading them took ~60 ms of every stratus command
 * (the CLI reads the kinds' schemas). Bundled into one set of files (code splitting keeps a single
 * copy, so its registries are shared) it loads in ~10 ms. The outputs import it from dist/vendor/.
 */
async function vendorBundles(out) {
  const vendor = { '@sinclair/typebox': 'typebox', '@sinclair/typebox/compiler': 'typebox-compiler', '@sinclair/typebox/errors': 'typebox-errors', '@sinclair/typebox/value': 'typebox-value' };
  await build({
    entryPoints: Object.entries(vendor).map(([spec, name]) => ({ in: fileURLToPath(import.meta.resolve(spec)), out: name })),
    outdir: join(out, 'vendor'),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
  });
  const outputs = (dir) => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? outputs(join(dir, n)) : [join(dir, n)]));
  for (const file of outputs(out).filter((f) => f.endsWith('.js') && !f.startsWith(join(out, 'vendor')))) {
    const text = readFileSync(file, 'utf8');
    const next = text.replace(/(["'])(@sinclair\/typebox(?:\/[a-z]+)?)\1/g, (_m, q, spec) => {
      if (!vendor[spec]) throw new Error(`${file} imports ${spec}: add it to the vendor bundles in scripts/build.mjs`);
      const to = relative(dirname(file), join(out, 'vendor', `${vendor[spec]}.js`));
      return `${q}${to.startsWith('.') ? to : `./${to}`}${q}`;
    });
    if (next !== text) writeFileSync(file, next);
  }
}
