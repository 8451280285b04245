// The build worker: the same wasm as the page; every message goes to Rust
// (web/src/worker.rs handle_message), which posts progress, output chunks
// and the result back. Messages are handled one at a time, in order; their
// shapes are web/src/protocol.rs (docs/protocol.md).
import init, { handle_message } from './pkg/imgforge_web.js';

// Parallel readers for a big input, used by Rust (worker.rs, convert of a
// raw image to qcow2): one File read by several reader.js workers at once,
// each on interleaved chunks (one FileReaderSync tops out below the disk's
// speed; a few in parallel do not). next() resolves to the chunks in
// order, {offset, data: Uint8Array, ranges: [start, end, …] (the parts of
// data that are not zeros)}, then null at the end; a reader's
// error rejects it (and every later call) with the file's name. At most
// `ahead` chunks per reader are read but not yet done with: a chunk is
// done with when next() is called again. close() ends the readers.
if (typeof Worker !== 'undefined' && typeof FileReaderSync !== 'undefined') {
  self.imgforgeReaders = (file, opts = {}) => {
    const size = file.size;
    const MiB = 1 << 20;
    // Six readers whatever the core count: they mostly wait on the
    // browser's file I/O (docs/benchmarks.md, "Issue 6", "Parallel
    // readers": 1 reader ~0.7 GB/s, 2 ~1.1, 4 ~1.4 on a 2-core machine;
    // 6 with one chunk each a little faster than 4 with two).
    const want = opts.readers ?? 6;
    // Chunks of 32 MiB, smaller for small files so that every reader has
    // a few (whole MiB, at least 1 MiB); with one chunk out per reader at
    // most 192 MiB are read but not yet converted.
    const chunk = opts.chunk ?? Math.max(MiB, Math.min(32 * MiB, Math.floor(size / (want * 4) / MiB) * MiB));
    const count = Math.max(1, Math.min(want, Math.ceil(size / chunk)));
    const ahead = opts.ahead ?? 1;
    const name = file.name || 'image';
    const workers = [];
    const ready = new Map(); // offset -> {data, w}
    let nextOffset = 0;
    let waiting = null; // the pending next(): {resolve, reject}
    let held = null; // the reader of the chunk the caller has now
    let failure = null;
    const close = () => {
      for (const w of workers) w.terminate();
      workers.length = 0;
      ready.clear();
    };
    const fail = (message) => {
      failure ??= new Error(`reading ${name}: ${message}`);
      close();
      if (waiting) { waiting.reject(failure); waiting = null; }
    };
    const deliver = () => {
      if (!waiting) return;
      if (nextOffset >= size) { waiting.resolve(null); waiting = null; return; }
      const c = ready.get(nextOffset);
      if (!c) return;
      ready.delete(nextOffset);
      held = c.w;
      const offset = nextOffset;
      nextOffset += c.data.length;
      waiting.resolve({ offset, data: c.data, ranges: c.ranges });
      waiting = null;
    };
    for (let i = 0; i < count; i++) {
      const w = new Worker(new URL('./reader.js', import.meta.url));
      w.onmessage = (e) => {
        const m = e.data;
        if (m.type === 'chunk') { ready.set(m.offset, { data: new Uint8Array(m.data), ranges: m.ranges, w }); deliver(); }
        else if (m.type === 'error') fail(m.message);
      };
      w.onerror = (e) => { e.preventDefault(); fail(`a reader worker failed (${e.message || 'reader.js did not load'})`); };
      w.onmessageerror = () => fail('a chunk could not be received');
      w.postMessage({ file, start: i * chunk, stride: count * chunk, chunk, end: size, ahead });
      workers.push(w);
    }
    return {
      readers: count,
      chunk,
      next() {
        if (held) { held.postMessage('ack'); held = null; }
        if (failure) return Promise.reject(failure);
        return new Promise((resolve, reject) => { waiting = { resolve, reject }; deliver(); });
      },
      close,
    };
  };
}

const ready = init();
let queue = Promise.resolve();
self.onmessage = (e) => {
  const id = e.data?.id;
  queue = queue
    .then(() => ready)
    .then(() => handle_message(e.data))
    .catch((err) => {
      // A Rust panic (a bug; console_error_panic_hook has logged it): the
      // wasm instance cannot be trusted after it, so the page replaces
      // this worker ("fatal").
      self.postMessage({ id, type: 'error', kind: 'internal', fatal: true, message: `internal error: ${err?.message ?? err}` });
    });
};
