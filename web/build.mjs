// Builds web/dist (or the folder given with --outdir): index.html, assets/app.js, assets/app.css.
// Fixed names, minified, no source maps, nothing time-dependent: two builds are byte-identical.
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const i = process.argv.indexOf('--outdir');
const out = resolve(i > 0 ? process.argv[i + 1] : join(here, 'dist'));

await rm(join(out, 'assets'), { recursive: true, force: true });
await rm(join(out, 'index.html'), { force: true });
await mkdir(join(out, 'assets'), { recursive: true });

await build({
  absWorkingDir: here,
  entryPoints: { app: 'src/main.js' },
  outdir: join(out, 'assets'),
  bundle: true,
  format: 'esm',
  target: ['es2022', 'chrome109', 'firefox115', 'safari16'],
  minify: true,
  sourcemap: false,
  legalComments: 'eof',
  charset: 'utf8',
  logLevel: 'warning',
});

// The page: whitespace trimmed per line (there is no <pre>), nothing else changed.
const html = await readFile(join(here, 'src', 'index.html'), 'utf8');
const min = html.split('\n').map((l) => l.trim()).filter(Boolean).join('\n') + '\n';
await writeFile(join(out, 'index.html'), min);
console.log(`built ${out}`);
