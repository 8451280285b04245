// Parity: the wasm build (target/wasm-node, as the page runs it) against the
// CLI and the anchor tools, case by case from parity-cases.json.
//
// A reference that cannot run yet (the CLI without the command, a format
// whose core writer is not merged: "not written yet"/"not merged yet") is
// reported PENDING; PARITY_STRICT=1 (or CI=true) makes pending a failure.
// A missing anchor tool or missing example inputs (examples/get-inputs.sh)
// is a skip, or a failure under CI=true.
//
// Cases include every recipe in examples/ (built by `imgforge build` and by
// build_bytes with the examples/inputs files keyed by the recipe's paths),
// the grow job against `imgforge resize --grow-last`, and raw → every
// container format through convert_bytes against `imgforge convert` (and
// convert_stream against convert_bytes).
import { createRequire } from 'node:module';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(import.meta.url);
const wasm = require(path.join(root, 'target/wasm-node/imgforge_web.js'));
const cli = process.env.IMGFORGE_BIN || path.join(root, 'target/release/imgforge');
const CI = process.env.CI === 'true';
const STRICT = process.env.PARITY_STRICT === '1' || CI;
const { cases } = JSON.parse(fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'parity-cases.json'), 'utf8'));
const only = process.argv[2];

class Pending extends Error {}
class Skip extends Error {}

const sha = (buf) => createHash('sha256').update(buf).digest('hex');
const haveTool = (t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0;
function needTools(tools = []) {
  for (const t of tools) {
    if (!haveTool(t)) {
      if (CI) throw new Error(`${t} is required under CI=true but is not installed`);
      throw new Skip(`${t} not installed`);
    }
  }
}
const fill = (s, vars) => s.replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? `{${k}}`);
const sh = (cmd, vars) => execFileSync('sh', ['-c', fill(cmd, vars)], { stdio: ['ignore', 'pipe', 'pipe'] });

function runCli(args, vars) {
  if (!fs.existsSync(cli)) throw new Pending(`no CLI at ${cli} (./build.sh build)`);
  const r = spawnSync(cli, args.map((a) => fill(a, vars)), { encoding: 'utf8' });
  if (r.status !== 0) {
    if (/unrecognized subcommand|unexpected argument|not written yet|not merged yet/.test(r.stderr)) {
      throw new Pending(`CLI: ${r.stderr.trim().split('\n')[0]}`);
    }
    throw new Error(`imgforge ${args.join(' ')} failed: ${r.stderr}`);
  }
  return r.stdout;
}

function wasmCall(f) {
  try {
    return f();
  } catch (e) {
    if (/not written yet|not merged yet/.test(e.message)) throw new Pending(`wasm: ${e.message}`);
    throw e;
  }
}

function pick(obj, keys) {
  return Object.fromEntries(keys.map((k) => [k, obj[k]]));
}

function runCase(c) {
  const dir = path.join(root, 'target/parity-tmp', c.name.replace(/\W+/g, '-'));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const vars = { root, dir, in: path.join(dir, 'input.img'), out: path.join(dir, 'ref.out'), recipe: path.join(dir, 'recipe.toml') };
  if (c.input) {
    needTools(c.input.tools);
    sh(c.input.sh, vars);
  }
  const files = new Map();
  const paths = new Map();
  for (const [p, src] of Object.entries(c.files || {})) {
    const file = path.resolve(dir, fill(src, vars));
    if (!fs.existsSync(file)) {
      if (CI) throw new Error(`${file} is missing (run ./examples/get-inputs.sh)`);
      throw new Skip(`${file} missing (./examples/get-inputs.sh fetches the example inputs)`);
    }
    files.set(p, new Uint8Array(fs.readFileSync(file)));
    paths.set(p, file);
  }

  if (c.inspect) {
    const got = JSON.parse(wasmCall(() => wasm.inspect_bytes(fs.readFileSync(vars.in))));
    const results = [];
    if (c.inspect.qemu_img_info) {
      needTools(['qemu-img']);
      const want = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', vars.in], { encoding: 'utf8' }));
      if (got.warnings?.length) {
        const w = got.warnings.join('; ');
        if (/not written yet|not merged yet/.test(w)) throw new Pending(`wasm: ${w}`);
      }
      const map = c.inspect.qemu_img_info;
      const ours = Object.fromEntries(Object.keys(map).map((k) => [k, got[k]]));
      const theirs = Object.fromEntries(Object.entries(map).map(([k, q]) => [k, want[q]]));
      assertEqual(ours, theirs, 'wasm inspect vs qemu-img info');
      if (c.inspect.container_vs_qemu_img_info) {
        const keys = c.inspect.container_vs_qemu_img_info;
        assertEqual(pick(got.container || {}, keys), pick(want, keys), 'wasm inspect container vs qemu-img info');
      }
      results.push('qemu-img info');
    }
    for (const ref of c.refs || []) {
      try {
        const want = JSON.parse(runCli(ref.cli_json, vars));
        assertEqual(pick(got, ref.keys), pick(want, ref.keys), 'wasm inspect vs imgforge inspect --json');
        results.push('cli');
      } catch (e) {
        if (e instanceof Pending) results.push(`pending(${e.message})`);
        else throw e;
      }
    }
    return results;
  }

  let out, filesOut;
  if (c.preset) {
    const p = wasm.presets().find((x) => x.id === c.preset);
    if (!p) throw new Error(`no preset '${c.preset}'`);
    c.build = JSON.stringify(p.recipe, null, 2);
  }
  if (c.recipe_file) c.build = fs.readFileSync(path.join(root, c.recipe_file), 'utf8');
  if (c.build) {
    fs.writeFileSync(vars.recipe, c.build);
    out = wasmCall(() => wasm.build_bytes(c.build, files));
    filesOut = buildFiles(c.build, paths, path.join(dir, 'wasm-files.out'));
  } else if (c.convert) {
    const input = fs.readFileSync(vars.in);
    const opts = JSON.stringify(c.convert.opts || {});
    out = wasmCall(() => wasm.convert_bytes(input, c.convert.format, opts));
    // convert_stream gives the same bytes, whether read() fills the view of
    // wasm memory it is handed or returns a Uint8Array of its own.
    for (const fill of [true, false]) {
      const parts = [];
      const read = fill
        ? (off, len, into) => { into.set(input.subarray(off, off + len)); return len; }
        : (off, len) => input.slice(off, off + len);
      const write = (chunk, hole) => parts.push(chunk ? Buffer.from(chunk) : Buffer.alloc(hole));
      wasmCall(() => wasm.convert_stream(input.length, read, c.convert.format, opts, write));
      assertEqual(sha(Buffer.concat(parts)), sha(out), `sha256 of convert_stream (read ${fill ? 'into wasm memory' : 'returning arrays'}) vs convert_bytes`);
    }
    // convert_files (read and written at positions: one pass for qcow2)
    // gives the same bytes too.
    const outFile = path.join(dir, 'wasm-convert-files.out');
    const ofd = fs.openSync(outFile, 'w');
    const src = { size: input.length, read: (b, pos) => { b.set(input.subarray(pos, pos + b.length)); return b.length; } };
    const n = wasmCall(() => wasm.convert_files(src, c.convert.format, opts, (b, pos) => fs.writeSync(ofd, b, 0, b.length, pos)));
    fs.ftruncateSync(ofd, n);
    fs.closeSync(ofd);
    assertEqual(sha(fs.readFileSync(outFile)), sha(out), 'sha256 of convert_files vs convert_bytes');
  } else {
    throw new Error('a case has build, convert or inspect');
  }
  const wasmOut = path.join(dir, 'wasm.out');
  fs.writeFileSync(wasmOut, out);
  out = sha(out); // the output itself can be large; only its hash is kept
  const results = [];
  if (filesOut) {
    assertEqual(sha(fs.readFileSync(filesOut)), out, `sha256 of build_files output (${filesOut}) vs build_bytes output`);
    results.push('build_files');
  }
  for (const ref of c.refs) {
    try {
      fs.rmSync(vars.out, { force: true });
      if (ref.cli) {
        runCli(ref.cli, vars);
        assertEqual(sha(fs.readFileSync(vars.out)), out, `sha256 of CLI output vs wasm output (${wasmOut})`);
        results.push('cli');
      } else if (ref.sh) {
        needTools(ref.tools);
        sh(ref.sh, vars);
        assertEqual(sha(fs.readFileSync(vars.out)), out, `sha256 of "${ref.sh}" vs wasm output`);
        results.push(ref.sh.split(' ')[0]);
      } else if (ref.check) {
        needTools(ref.tools);
        const text = sh(ref.check, { ...vars, wasm: wasmOut }).toString();
        if (!text.includes(ref.expect)) throw new Error(`${fill(ref.check, { ...vars, wasm: wasmOut })}: no "${ref.expect}" in:\n${text}`);
        results.push(ref.check.split(' ').slice(0, 2).join(' '));
      } else if (ref.cli_sh) {
        if (!fs.existsSync(cli)) throw new Pending(`no CLI at ${cli} (./build.sh build)`);
        const r = spawnSync('sh', ['-c', fill(ref.cli_sh, { ...vars, imgforge: cli })], { encoding: 'utf8' });
        if (r.status !== 0) {
          if (/unrecognized subcommand|unexpected argument/.test(r.stderr)) throw new Pending(`CLI: ${r.stderr.trim().split('\n')[0]}`);
          throw new Error(`${ref.cli_sh} failed: ${r.stderr}`);
        }
        assertEqual(sha(fs.readFileSync(vars.out)), out, `sha256 of "${ref.cli_sh}" vs wasm output`);
        results.push('cli');
      } else if (ref.same_content) {
        needTools(ref.tools);
        sh(ref.same_content, vars);
        const chk = spawnSync('qemu-img', ['check', wasmOut], { encoding: 'utf8' });
        if (chk.status !== 0 && !/does not support checks/.test(chk.stderr)) throw new Error(`qemu-img check: ${chk.stdout}${chk.stderr}`);
        const r = spawnSync('qemu-img', ['compare', '-f', 'raw', vars.out, wasmOut], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`qemu-img compare: ${r.stdout}${r.stderr}`);
        results.push('qemu-img compare');
        fs.rmSync(vars.out, { force: true });
      }
    } catch (e) {
      if (e instanceof Pending) results.push(`pending(${e.message})`);
      else throw e;
    }
  }
  return results;
}

// build_files as node scripts call it: inputs read from their files on
// demand, the image written at positions into a sparse file.
function buildFiles(recipe, paths, outPath) {
  const fds = [];
  try {
    const inputs = new Map([...paths].map(([p, file]) => {
      const fd = fs.openSync(file, 'r');
      fds.push(fd);
      return [p, { size: fs.fstatSync(fd).size, read: (b, pos) => fs.readSync(fd, b, 0, b.length, pos) }];
    }));
    const ofd = fs.openSync(outPath, 'w');
    fds.push(ofd);
    const size = wasmCall(() => wasm.build_files(recipe, inputs, (b, pos) => fs.writeSync(ofd, b, 0, b.length, pos)));
    fs.ftruncateSync(ofd, size);
    return outPath;
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
}

function assertEqual(a, b, what) {
  const sa = JSON.stringify(a), sb = JSON.stringify(b);
  if (sa !== sb) throw new Error(`${what}: ${sa} != ${sb}`);
}

let failed = 0, pending = 0;
for (const c of cases) {
  if (only && !c.name.includes(only)) continue;
  try {
    const r = runCase(c);
    const p = r.filter((x) => x.startsWith('pending'));
    pending += p.length;
    console.log(`${p.length && !r.some((x) => !x.startsWith('pending')) ? 'PENDING' : 'ok'}  ${c.name}: ${r.join(', ')}`);
  } catch (e) {
    if (e instanceof Pending) {
      pending++;
      console.log(`PENDING  ${c.name}: ${e.message}`);
    } else if (e instanceof Skip) {
      console.log(`skip  ${c.name}: ${e.message}`);
    } else {
      failed++;
      console.log(`FAIL  ${c.name}: ${e.message}`);
    }
  }
}
// build_files: an input that ends before its size is an error naming it,
// and a failing write is an error, never a panic or a partial success.
if (!only || 'build_files errors'.includes(only)) {
  const recipe = '[filesystem]\ntype = "ext4"\ncontents = [{ tar = "t.tar" }]\n';
  const expectError = (what, f, re) => {
    try {
      f();
    } catch (e) {
      if (re.test(e.message)) return;
      throw new Error(`${what}: unexpected error: ${e.message}`);
    }
    throw new Error(`${what}: no error`);
  };
  try {
    expectError('a short input', () => wasm.build_files(recipe, new Map([['t.tar', { size: 1 << 20, read: () => 0 }]]), (b) => b.length), /t\.tar/);
    const tar = fs.readFileSync(path.join(root, 'examples/inputs/rootfs.tar'));
    const read = (b, pos) => tar.copy(b, 0, pos, pos + b.length);
    expectError('a failing write', () => wasm.build_files(recipe, new Map([['t.tar', { size: tar.length, read }]]), () => { throw new Error('disk full'); }), /disk full/);
    console.log('ok  build_files errors: short input, failing write');
  } catch (e) {
    if (e.code === 'ENOENT' && !CI) {
      console.log(`skip  build_files errors: ${e.message}`);
    } else {
      failed++;
      console.log(`FAIL  build_files errors: ${e.message}`);
    }
  }
}
console.log(`parity: ${failed} failed, ${pending} pending`);
if (failed || (STRICT && pending)) process.exit(1);
