// Issue 3's "wasm build of the same job under node": builds an ext4 image
// from a tar of the bench tree with the wasm core and writes it to a file,
// as `imgforge build RECIPE -o OUT` does natively, and prints the wall time
// of the build (opening the files to closing the output) as JSON; bench.py
// times the whole process too and compares the output with the CLI's.
// Not a test.
//   node tests/node/bench-ext4.mjs RECIPE.toml TREE.tar OUT.img
//     build_files: the tar read on demand (fs.readSync into wasm memory),
//     the image written at positions (fs.writeSync), holes left sparse.
//   node tests/node/bench-ext4.mjs --bytes RECIPE.toml TREE.tar OUT.img
//     build_bytes: the tar read from a Uint8Array, the image collected in
//     wasm memory and returned as one Uint8Array (the in-memory path, for
//     comparison), written to OUT.img after the timed part.
// IMGFORGE_WASM_NODE=DIR loads the wasm-bindgen output from DIR instead of
// target/wasm-node (bench.py times an older build this way, for a before/
// after comparison in one run).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = process.env.IMGFORGE_WASM_NODE || path.join(here, '..', '..', 'target', 'wasm-node');
const wasm = require(path.resolve(pkg, 'imgforge_web.js'));
const args = process.argv.slice(2);
const bytesMode = args[0] === '--bytes';
if (bytesMode) args.shift();
const [recipePath, tarPath, outPath] = args;
if (!outPath) {
  console.error('usage: node tests/node/bench-ext4.mjs [--bytes] RECIPE.toml TREE.tar OUT.img');
  process.exit(2);
}
const recipe = fs.readFileSync(recipePath, 'utf8');

if (bytesMode) {
  const t0 = process.hrtime.bigint();
  const files = new Map([['tree.tar', new Uint8Array(fs.readFileSync(tarPath))]]);
  const out = wasm.build_bytes(recipe, files);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  fs.writeFileSync(outPath, out);
  console.log(JSON.stringify({ seconds: secs, bytes: out.length }));
} else {
  const t0 = process.hrtime.bigint();
  const tfd = fs.openSync(tarPath, 'r');
  const tar = {
    size: fs.fstatSync(tfd).size,
    read: (b, p) => fs.readSync(tfd, b, 0, b.length, p),
  };
  const ofd = fs.openSync(outPath, 'w');
  const size = wasm.build_files(recipe, new Map([['tree.tar', tar]]),
    (b, p) => fs.writeSync(ofd, b, 0, b.length, p));
  fs.ftruncateSync(ofd, size);
  fs.closeSync(ofd);
  fs.closeSync(tfd);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ seconds: secs, bytes: size }));
}
