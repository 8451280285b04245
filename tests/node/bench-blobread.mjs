// How fast can a worker in headless Chromium read a big File? (issue 6's
// 4 GiB conversion budget.) Not a test: it prints MB/s for each way of
// reading, so that BlobSource's chunk size can be chosen from numbers.
//
//   node tests/node/bench-blobread.mjs FILE [MiB to read per method, default 1024]
//
// Ways measured, each over the first N MiB of FILE, front to back:
//   - FileReaderSync.readAsArrayBuffer(file.slice(..)) at 1/4/16/64 MiB
//     chunks (what BlobSource does; a fresh ArrayBuffer per call);
//   - the same, then copied into a WebAssembly.Memory whole, or in 64 KiB
//     pieces (what BlobSource's read-ahead does: Uint8Array::copy_to of
//     each cluster);
//   - await file.slice(..).arrayBuffer() at 4/16/64 MiB;
//   - file.stream() read to the end (chunks as the browser gives them);
//   - FileReaderSync at 64 KiB (the per-call cost);
//   - a memcpy-only baseline: one 16 MiB ArrayBuffer copied into wasm
//     memory repeatedly.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { giveFiles, openSession } from './chromium-session.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const file = process.argv[2];
const mib = Number(process.argv[3] || 1024);
const rounds = Number(process.env.ROUNDS || 3);
// CHUNKS=4,16,32 (MiB) for the FileReaderSync rows; ONLY=text keeps the rows whose name has it.
const chunks = (process.env.CHUNKS || '1,4,16,64').split(',').map(Number);
const only = process.env.ONLY || '';
if (!file || !fs.existsSync(file)) {
  console.error('usage: node tests/node/bench-blobread.mjs FILE [MiB]');
  process.exit(2);
}

// The worker's code: runs every method and posts the results.
const workerSrc = `
self.onmessage = async (e) => {
  const { file, limit, rounds, chunks, only } = e.data;
  const total = Math.min(limit, file.size);
  const MiB = 1 << 20;
  const mem = new WebAssembly.Memory({ initial: (64 * MiB) / 65536 + 1 });
  const wasm = new Uint8Array(mem.buffer);
  const frs = new FileReaderSync();
  const methods = [];
  const copies = { '': null, ' + copy into wasm memory': 'whole', ' + copied out in 64 KiB pieces': 'pieces' };
  for (const [label, copy] of Object.entries(copies)) {
    for (const chunk of chunks.map((m) => m * MiB)) {
      methods.push(['FileReaderSync ' + chunk / MiB + ' MiB' + label, () => {
        let sum = 0;
        for (let off = 0; off < total; off += chunk) {
          const buf = frs.readAsArrayBuffer(file.slice(off, Math.min(off + chunk, total)));
          const a = new Uint8Array(buf);
          if (copy === 'whole') wasm.set(a, 0);
          // As BlobSource does: each cluster copied from the window.
          if (copy === 'pieces') for (let p = 0; p < a.length; p += 65536) wasm.set(a.subarray(p, p + 65536), 0);
          sum += buf.byteLength;
        }
        return sum;
      }]);
    }
  }
  methods.push(['FileReaderSync 64 KiB (first 64 MiB only)', () => {
    let sum = 0;
    for (let off = 0; off < Math.min(total, 64 * MiB); off += 65536) {
      sum += frs.readAsArrayBuffer(file.slice(off, off + 65536)).byteLength;
    }
    return sum;
  }]);
  for (const chunk of [4, 16, 64].map((m) => m * MiB)) {
    methods.push(['await slice().arrayBuffer() ' + chunk / MiB + ' MiB', async () => {
      let sum = 0;
      for (let off = 0; off < total; off += chunk) {
        sum += (await file.slice(off, Math.min(off + chunk, total)).arrayBuffer()).byteLength;
      }
      return sum;
    }]);
  }
  methods.push(['blob.stream() default reader', async () => {
    const r = file.slice(0, total).stream().getReader();
    let sum = 0;
    for (;;) {
      const { done, value } = await r.read();
      if (done) break;
      sum += value.length;
    }
    return sum;
  }]);
  methods.push(['blob.stream() BYOB 16 MiB + copy into wasm memory', async () => {
    const r = file.slice(0, total).stream().getReader({ mode: 'byob' });
    let sum = 0;
    let buf = new ArrayBuffer(16 * MiB);
    for (;;) {
      const { done, value } = await r.read(new Uint8Array(buf));
      if (done) break;
      sum += value.length;
      wasm.set(value, 0);
      buf = value.buffer;
    }
    return sum;
  }]);
  methods.push(['memcpy baseline: 16 MiB ArrayBuffer into wasm memory', () => {
    const src = new Uint8Array(16 * MiB).fill(1);
    let sum = 0;
    while (sum < total) { wasm.set(src, 0); sum += src.length; }
    return sum;
  }]);
  if (only) methods.splice(0, methods.length, ...methods.filter(([n]) => n.includes(only)));
  // Warm-up: the file once through (page cache, browser blob plumbing).
  for (let off = 0; off < total; off += 16 * MiB) frs.readAsArrayBuffer(file.slice(off, Math.min(off + 16 * MiB, total)));
  const out = methods.map(([name]) => ({ name, ms: [], bytes: 0 }));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < methods.length; i++) {
      const t = performance.now();
      out[i].bytes = await methods[i][1]();
      out[i].ms.push(performance.now() - t);
    }
  }
  self.postMessage(out);
};`;

// A blank page of its own (the app's CSP would refuse a blob: worker).
const site = fs.mkdtempSync(path.join(os.tmpdir(), 'imgforge-blobread-site-'));
fs.writeFileSync(path.join(site, 'index.html'), '<!doctype html><title>probe</title>');
const { origin, ctx, close } = await openSession(site, 'imgforge-blobread-');
try {
  const page = await ctx.newPage();
  await page.goto(`${origin}/index.html`);
  await giveFiles(page, 'probe-file', file);
  const res = await page.evaluate(async ({ src, limit, rounds, chunks, only }) => {
    const w = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
    const file = document.getElementById('probe-file').files[0];
    const r = await new Promise((ok, bad) => {
      w.onmessage = (e) => ok(e.data);
      w.onerror = (e) => bad(new Error(e.message));
      w.postMessage({ file, limit, rounds, chunks, only });
    });
    w.terminate();
    return r;
  }, { src: workerSrc, limit: mib * 2 ** 20, rounds, chunks, only });
  console.log(`reading ${Math.min(mib * 2 ** 20, fs.statSync(file).size) / 2 ** 20} MiB of ${file} in a worker (${process.env.CHROMIUM || '/usr/bin/chromium'})`);
  console.log(`${rounds} rounds; MB/s of the best round, then each round's`);
  for (const r of res) {
    const each = r.ms.map((ms) => (r.bytes / 1e6 / (ms / 1000)).toFixed(0));
    const best = r.bytes / 1e6 / (Math.min(...r.ms) / 1000);
    console.log(`${r.name.padEnd(56)} ${best.toFixed(0).padStart(6)} MB/s  (${each.join(', ')})`);
  }
} finally {
  await close();
  fs.rmSync(site, { recursive: true, force: true });
}
