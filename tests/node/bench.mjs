// Benchmark of the browser side (issue 6), called by bench/bench.py's
// `wasm` group: `node tests/node/bench.mjs [RAW]`. Not a test: it prints.
//
// Two jobs, each natively (the CLI), as wasm under node, and as wasm in
// headless Chromium (Debian's, through playwright-core):
//   1. examples/bootable-disk.toml (the seed's bootable disk, 512 MiB raw)
//      with examples/inputs; in Chromium through the page (folder input,
//      worker, OPFS output);
//   2. RAW → qcow2 (bench.py passes target/bench/src.raw, a 4 GiB raw
//      holding ext4; without it a 1 GiB one is made here); under node with
//      convert_files (fs reads and writes at positions: one pass), in Chromium with imgforge.js
//      convert() on a File (the worker reads it lazily, writes to OPFS).
// Prints the wasm/native ratios (goal ≤ 1.5×), the longest main-thread
// task during the Chromium jobs (PerformanceObserver 'longtask', goal
// < 100 ms) and the gzipped .wasm size (goal ≤ 2 MiB).
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { giveFiles, openSession } from './chromium-session.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(import.meta.url);
const cli = process.env.IMGFORGE_BIN || path.join(root, 'target/release/imgforge');
// BENCH_WORK: where outputs go (e.g. a tmpfs, to keep disk writeback
// stalls of a shared machine out of the times).
const work = process.env.BENCH_WORK || path.join(root, 'target/bench');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
fs.mkdirSync(work, { recursive: true });

const line = (name, v) => console.log(`${name.padEnd(48)} ${v}`);
const secs = (ms) => `${(ms / 1000).toFixed(2)}s`;
function ratio(name, wasmMs, nativeMs, goal = 1.5) {
  const r = wasmMs / nativeMs;
  line(name, `${secs(wasmMs)} vs native ${secs(nativeMs)}: ratio ${r.toFixed(2)}x (goal <= ${goal}x: ${r <= goal ? 'ok' : 'MISSED'})`);
}
// CPU seconds (user + sys) of the last timeCli run, from /usr/bin/time.
let cliCpu = null;
// Before each timed job: the previous jobs' outputs (hundreds of MiB)
// written back to disk, so that their writeback does not land in this
// job's time.
const settle = () => spawnSync('sync');
function timeCli(args) {
  const timed = fs.existsSync('/usr/bin/time');
  settle();
  const t = performance.now();
  const r = timed
    ? spawnSync('/usr/bin/time', ['-f', 'cpu %U %S', cli, ...args], { encoding: 'utf8' })
    : spawnSync(cli, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`imgforge ${args.join(' ')}: ${r.stderr}`);
  const m = timed && /cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr);
  cliCpu = m ? Number(m[1]) + Number(m[2]) : null;
  return performance.now() - t;
}

if (!fs.existsSync(cli)) { console.log(`wasm bench: no CLI at ${cli} (./build.sh build)`); process.exit(0); }
// IMGFORGE_WASM_NODE / IMGFORGE_WWW point at other builds (to time two
// builds one after the other).
const wasmNode = process.env.IMGFORGE_WASM_NODE || path.join(root, 'target/wasm-node');
const www = process.env.IMGFORGE_WWW || path.join(root, 'www');
const wasm = require(path.join(wasmNode, 'imgforge_web.js'));

// The .wasm the page loads, gzipped as a server would send it.
const wasmFile = path.join(www, 'pkg/imgforge_web_bg.wasm');
if (fs.existsSync(wasmFile)) {
  const raw = fs.statSync(wasmFile).size;
  const gz = zlib.gzipSync(fs.readFileSync(wasmFile), { level: 9 }).length;
  line('www/pkg/imgforge_web_bg.wasm', `${(raw / 2 ** 20).toFixed(2)} MiB, gzipped ${(gz / 2 ** 20).toFixed(2)} MiB (goal <= 2 MiB: ${gz <= 2 * 2 ** 20 ? 'ok' : 'MISSED'})`);
}

// Job 2's input.
let big = process.argv[2];
if (!big || !fs.existsSync(big)) {
  big = path.join(work, 'wasm-src.raw');
  if (!fs.existsSync(big)) {
    const stdlib = execFileSync('python3', ['-c', 'import sysconfig; print(sysconfig.get_paths()["stdlib"])'], { encoding: 'utf8' }).trim();
    execFileSync('sh', ['-c', `truncate -s 1G ${big} && mke2fs -q -F -t ext4 -d ${stdlib} ${big}`]);
  }
}
const bigSize = fs.statSync(big).size;
const bigLabel = `raw (${(bigSize / 2 ** 30).toFixed(1)} GiB) -> qcow2`;

// Native.
const recipe = path.join(root, 'examples/bootable-disk.toml');
const inputs = path.join(root, 'examples/inputs');
const haveInputs = fs.existsSync(path.join(inputs, 'rootfs.tar'));
const nat = {};
// The bootable disk takes well under a second: best of three runs.
const best = (f) => Math.min(f(), f(), f());
if (haveInputs) nat.boot = best(() => timeCli(['build', recipe, '-o', path.join(work, 'wasm-boot.cli.img')]));
nat.convert = timeCli(['convert', '-O', 'qcow2', big, path.join(work, 'wasm-conv.cli.qcow2')]);
nat.convertCpu = cliCpu;
if (haveInputs) line('native: bootable disk recipe', secs(nat.boot));
line(`native: ${bigLabel}`, secs(nat.convert) + (nat.convertCpu != null ? ` (CPU ${nat.convertCpu.toFixed(2)}s)` : ''));

// Wasm under node, streamed to files like the CLI.
function fileWriter(file) {
  const fd = fs.openSync(file, 'w');
  let pos = 0;
  return {
    write: (chunk, hole) => {
      if (chunk) { fs.writeSync(fd, chunk, 0, chunk.length, pos); pos += chunk.length; } else pos += hole;
    },
    close: () => { fs.ftruncateSync(fd, pos); fs.closeSync(fd); },
  };
}
if (haveInputs) {
  const text = fs.readFileSync(recipe, 'utf8');
  const files = new Map();
  for (const f of fs.readdirSync(inputs)) files.set(`inputs/${f}`, new Uint8Array(fs.readFileSync(path.join(inputs, f))));
  const ms = best(() => {
    const out = fileWriter(path.join(work, 'wasm-boot.node.img'));
    settle();
    const t = performance.now();
    wasm.build_stream(text, files, out.write);
    out.close();
    return performance.now() - t;
  });
  ratio('wasm/node: bootable disk recipe', ms, nat.boot);
}
{
  const fd = fs.openSync(big, 'r');
  // Reads straight into `into` (a view of wasm memory) when given; older
  // builds call read(offset, length) and get a fresh Uint8Array.
  const read = (off, len, into) => {
    const b = into || new Uint8Array(len);
    let got = 0;
    while (got < len) {
      const n = fs.readSync(fd, b, got, len - got, off + got);
      if (n === 0) break;
      got += n;
    }
    if (into) return got;
    return got === len ? b : b.subarray(0, got);
  };
  const outPath = path.join(work, 'wasm-conv.node.qcow2');
  settle();
  const t = performance.now();
  const cpu = process.cpuUsage();
  if (wasm.convert_files) {
    // Read and written at positions, as the CLI does: one pass for qcow2.
    const ofd = fs.openSync(outPath, 'w');
    const src = { size: bigSize, read: (b, pos) => read(pos, b.length, b) };
    const n = wasm.convert_files(src, 'qcow2', '{}', (b, pos) => fs.writeSync(ofd, b, 0, b.length, pos));
    fs.ftruncateSync(ofd, n);
    fs.closeSync(ofd);
  } else {
    const out = fileWriter(outPath);
    wasm.convert_stream(bigSize, read, 'qcow2', '{}', out.write);
    out.close();
  }
  fs.closeSync(fd);
  const ms = performance.now() - t;
  const c = process.cpuUsage(cpu);
  ratio(`wasm/node: ${bigLabel}`, ms, nat.convert);
  if (nat.convertCpu) {
    const s = (c.user + c.system) / 1e6;
    line('  CPU (user+sys)', `${s.toFixed(2)}s vs native ${nat.convertCpu.toFixed(2)}s: ratio ${(s / nat.convertCpu).toFixed(2)}x`);
  }
}

// The same bytes, or the ratios compare different work.
const sha = (f) => execFileSync('sha256sum', [f], { encoding: 'utf8' }).split(' ')[0];
for (const [a, b] of [['wasm-boot.cli.img', 'wasm-boot.node.img'], ['wasm-conv.cli.qcow2', 'wasm-conv.node.qcow2']]) {
  const fa = path.join(work, a), fb = path.join(work, b);
  if (fs.existsSync(fa) && fs.existsSync(fb)) line(`  ${b} = ${a}`, sha(fa) === sha(fb) ? 'same sha256' : 'DIFFERENT BYTES');
}

// Wasm in Chromium.
if (!fs.existsSync(chromiumPath) || !fs.existsSync(path.join(www, 'pkg/imgforge_web.js'))) {
  console.log('wasm in chromium: skipped (no chromium or no www/pkg)');
  process.exit(0);
}
const { origin, ctx, close } = await openSession(www, 'imgforge-bench-', {
  acceptDownloads: true,
  viewport: { width: 1280, height: 900 },
});
async function waitFor(page, f, timeout) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await page.evaluate(f).catch(() => false);
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
try {
  const page = await ctx.newPage();
  await page.addInitScript(() => {
    delete window.showSaveFilePicker;
    window.__longtasks = [];
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longtasks.push(e.duration); })
      .observe({ type: 'longtask', buffered: true });
  });
  await page.goto(`${origin}/index.html`);
  await waitFor(page, () => document.getElementById('status')?.textContent === 'Ready.', 20000);
  let longest = 0;
  const takeLongtasks = async () => {
    const l = await page.evaluate(() => { const v = window.__longtasks; window.__longtasks = []; return v; });
    return Math.max(0, ...l);
  };
  if (haveInputs) {
    await page.fill('#recipe', fs.readFileSync(recipe, 'utf8'));
    await page.setInputFiles('#folder', inputs);
    await waitFor(page, () => document.getElementById('file-list').textContent.includes('inputs/rootfs.tar'), 20000);
    await takeLongtasks();
    // Best of three, as natively; the time is the page's own (from the
    // click to the download being offered: the status line's data-ms).
    let ms = Infinity;
    for (let i = 0; i < 3; i++) {
      await page.evaluate(() => { document.getElementById('status').textContent = ''; });
      settle();
      await page.click('#build');
      const status = await waitFor(page, () => { const s = document.getElementById('status').textContent; return /Built|failed|Cannot/.test(s) && s; }, 300000);
      if (!status.startsWith('Built')) throw new Error(status);
      ms = Math.min(ms, Number(await page.getAttribute('#status', 'data-ms')));
    }
    ratio('chromium: bootable disk recipe (page, OPFS)', ms, nat.boot);
    const l = await takeLongtasks();
    line('  longest main-thread task during the build', `${l.toFixed(0)} ms (goal < 100 ms: ${l < 100 ? 'ok' : 'MISSED'})`);
    longest = Math.max(longest, l);
  }
  // The conversion through the module API on a File (read lazily). After
  // job 1's builds in this browser it takes ~8 s where it takes 4.0–4.9 s
  // alone (bench-chromium-convert.mjs, or this script without job 1's
  // inputs), in this tab or a fresh one; the cause was not found.
  await giveFiles(page, 'bench-file', big);
  await takeLongtasks();
  settle();
  const ms = await page.evaluate(async () => {
    const m = await import('./imgforge.js');
    await m.init();
    const file = document.getElementById('bench-file').files[0];
    const t = performance.now();
    const out = await m.convert(file, 'qcow2');
    const ms = performance.now() - t;
    if (!out.size) throw new Error('empty output');
    return ms;
  });
  ratio(`chromium: ${bigLabel} (worker, OPFS)`, ms, nat.convert);
  const l = await takeLongtasks();
  line('  longest main-thread task during the conversion', `${l.toFixed(0)} ms (goal < 100 ms: ${l < 100 ? 'ok' : 'MISSED'})`);
  longest = Math.max(longest, l);
  // The observer itself works: a 150 ms busy loop in a task of the page
  // (code run by the devtools protocol itself is not counted as a task).
  await page.evaluate(() => setTimeout(() => { const t = performance.now(); while (performance.now() - t < 150); }, 0));
  await new Promise((r) => setTimeout(r, 400));
  line('  (check: a 150 ms busy loop shows as)', `${(await takeLongtasks()).toFixed(0)} ms`);
  line('longest main-thread task (chromium, all jobs)', `${longest.toFixed(0)} ms (goal < 100 ms: ${longest < 100 ? 'ok' : 'MISSED'})`);
} finally {
  await close();
  for (const f of ['wasm-boot.cli.img', 'wasm-boot.node.img', 'wasm-conv.cli.qcow2', 'wasm-conv.node.qcow2']) fs.rmSync(path.join(work, f), { force: true });
}
