// imgforge as a JS module for workshop pages: the same worker and wasm as
// the builder page (worker.js, pkg/). See docs/embedding.md; the messages
// exchanged with the worker are web/src/protocol.rs (docs/protocol.md).
// A failed job rejects with an Error whose `kind` says what failed
// ("corrupt", "unsupported", "truncated", "invalid", "no_space",
// "cancelled", "io", "browser", "request", "internal") and whose `subject`
// names the field, file or structure, when the error names one.
//
//   import * as imgforge from './imgforge.js';
//   await imgforge.init();
//   const blob = await imgforge.build(recipeText, { 'rootfs.tar': file });
//   const info = await imgforge.inspect(file);

let worker = null;
let nextId = 1;
const jobs = new Map();

// An `error` event as an Error that keeps its kind and subject.
function jobError(m) {
  const err = new Error(m.message);
  err.kind = m.kind;
  if (m.subject !== undefined) err.subject = m.subject;
  return err;
}

function startWorker() {
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = (e) => {
    const m = e.data, job = jobs.get(m.id);
    if (!job) return;
    if (m.type === 'progress') job.onProgress?.(m.phase, m.done, m.total);
    else if (m.type === 'chunk') job.parts.push(m.data);
    else if (m.type === 'hole') {
      for (let left = m.len; left > 0; left -= 1 << 26) job.parts.push(new Uint8Array(Math.min(left, 1 << 26)));
    } else if (m.type === 'done') { jobs.delete(m.id); job.resolve(m); }
    else if (m.type === 'error') { jobs.delete(m.id); job.reject(jobError(m)); }
  };
  worker.onerror = (e) => {
    for (const job of jobs.values()) job.reject(jobError({ kind: 'internal', message: `imgforge worker failed: ${e.message}` }));
    jobs.clear();
  };
}

/** Starts the worker (optional: the first call does it too). */
export async function init() {
  if (!worker) startWorker();
}

/** Stops the running job: the worker is terminated and a new one starts. */
export function cancel() {
  if (!worker) return;
  worker.terminate();
  for (const job of jobs.values()) job.reject(jobError({ kind: 'cancelled', message: 'cancelled' }));
  jobs.clear();
  startWorker();
}

async function toBlob(v) {
  if (v instanceof Blob) return v;
  if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return new Blob([v]);
  if (typeof v === 'string') {
    const r = await fetch(v);
    if (!r.ok) throw new Error(`${v}: HTTP ${r.status}`);
    return r.blob();
  }
  throw new Error('a file is a Blob, File, Uint8Array, ArrayBuffer or URL string');
}

async function collect(msg, onProgress) {
  const parts = [];
  if (!worker) startWorker();
  const id = nextId++;
  const m = await new Promise((resolve, reject) => {
    jobs.set(id, { resolve, reject, onProgress, parts });
    worker.postMessage({ ...msg, id, name: `imgforge-out-api-${Date.now()}-${id}` });
  });
  if (m.output === 'opfs') {
    const dir = await navigator.storage.getDirectory();
    return (await dir.getFileHandle(m.name)).getFile();
  }
  return new Blob(parts);
}

/**
 * Builds a recipe (TOML or JSON text, or an object) from `files`
 * ({path: Blob|File|Uint8Array|URL} or a Map). Resolves to a Blob (a File
 * in the origin private file system where the browser has one).
 * options.onProgress(phase, done, total) is called ~10 times a second.
 * options.prefetch: inputs up to this many bytes (default 32 MiB, at most
 * 128 MiB in all) are read whole, concurrently, before the build starts;
 * larger ones are read on demand. 0: everything on demand.
 */
export async function build(recipe, files = {}, options = {}) {
  const text = typeof recipe === 'string' ? recipe : JSON.stringify(recipe);
  const entries = files instanceof Map ? [...files] : Object.entries(files);
  const list = [];
  for (const [path, v] of entries) list.push([path, await toBlob(v)]);
  const msg = { cmd: 'build', recipe: text, files: list, out: 'auto' };
  if (options.prefetch !== undefined) msg.prefetch = options.prefetch;
  return collect(msg, options.onProgress);
}

/** Converts an image to `format` (raw, qcow2, vhd, vhdx, vmdk, ova, box). */
export async function convert(image, format, opts = {}, options = {}) {
  return collect({ cmd: 'convert', file: await toBlob(image), format, opts: JSON.stringify(opts), out: 'auto' },
    options.onProgress);
}

async function ask(msg) {
  if (!worker) startWorker();
  const id = nextId++;
  const m = await new Promise((resolve, reject) => {
    jobs.set(id, { resolve, reject, parts: [] });
    worker.postMessage({ ...msg, id });
  });
  return m.result;
}

/** What `imgforge inspect --json` says about an image (File, Blob, bytes or URL). */
export async function inspect(image) {
  return ask({ cmd: 'inspect', file: await toBlob(image) });
}

// The worker keeps a filesystem's tree per key: one key per image object.
const keys = new WeakMap();
function keyOf(blob) {
  if (!keys.has(blob)) keys.set(blob, `api-${nextId++}`);
  return keys.get(blob);
}

/**
 * The entries of directory `path` of the filesystem in partition `part`
 * (a number, or null when the whole image is one filesystem):
 * [{name, kind: "dir"|"file"|"symlink"|..., size, mode: "-rw-r--r--", uid,
 * gid, mtime, target?, entries?}], directories first. Pass the same
 * File/Blob again to reuse what the worker already read.
 */
export async function listDir(image, part, path = '/') {
  const file = await toBlob(image);
  return ask({ cmd: 'list_dir', file, key: keyOf(file), part: part ?? undefined, path });
}

/** One file from inside an image, as a Blob (read by the worker in pieces). */
export async function readFile(image, part, path, options = {}) {
  const file = await toBlob(image);
  return collect({ cmd: 'read_file', file, key: keyOf(file), part: part ?? undefined, path, out: 'auto' }, options.onProgress);
}
