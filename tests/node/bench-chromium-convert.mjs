// Times only the Chromium conversion of bench.mjs's job 2 (FILE → qcow2
// through imgforge.js convert() on a File: the worker reads it with
// BlobSource and writes to OPFS), for one or more builds of www/ in turn,
// ROUNDS times each, interleaved, so that builds can be compared in the
// same run on a noisy machine. Not a test.
//
//   node tests/node/bench-chromium-convert.mjs FILE [WWW_DIR…]   (default: www)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { giveFiles, openSession } from './chromium-session.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const [file, ...dirs] = process.argv.slice(2);
if (!file || !fs.existsSync(file)) {
  console.error('usage: node tests/node/bench-chromium-convert.mjs FILE [WWW_DIR…]');
  process.exit(2);
}
const wwws = dirs.length ? dirs.map((d) => path.resolve(d)) : [path.join(root, 'www')];
const rounds = Number(process.env.ROUNDS || 2);
async function timeOnce(www) {
  const { origin, ctx, close } = await openSession(www, 'imgforge-bench-conv-');
  try {
    const page = await ctx.newPage();
    await page.goto(`${origin}/index.html`);
    await giveFiles(page, 'bench-file', file);
    return await page.evaluate(async () => {
      const m = await import('./imgforge.js');
      await m.init();
      const f = document.getElementById('bench-file').files[0];
      const t = performance.now();
      const out = await m.convert(f, 'qcow2');
      const ms = performance.now() - t;
      return { ms, size: out.size };
    });
  } finally {
    await close();
  }
}

for (let r = 0; r < rounds; r++) {
  for (const www of wwws) {
    const { ms, size } = await timeOnce(www);
    console.log(`${path.relative(root, www).padEnd(28)} ${(ms / 1000).toFixed(2)} s (output ${size} bytes)`);
  }
}
