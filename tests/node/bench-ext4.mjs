// Issue 3's "wasm build of the same job under node": builds an ext4 image
// from a tar of the bench tree with the wasm build_bytes (recipe + tar) and
// prints the wall time and the output's sha256, so bench.py can compare with
// `imgforge build` of the same recipe natively. Not a test.
//   node tests/node/bench-ext4.mjs RECIPE.toml TREE.tar
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const wasm = require(path.join(here, '..', '..', 'target', 'wasm-node', 'imgforge_web.js'));
const [recipePath, tarPath] = process.argv.slice(2);
const recipe = readFileSync(recipePath, 'utf8');
const files = new Map([['tree.tar', new Uint8Array(readFileSync(tarPath))]]);
const t0 = process.hrtime.bigint();
const out = wasm.build_bytes(recipe, files);
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const sha = createHash('sha256').update(out).digest('hex');
console.log(JSON.stringify({ seconds: secs, bytes: out.length, sha256: sha }));
