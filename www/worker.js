// The build worker: the same wasm as the page; every message goes to Rust
// (web/src/worker.rs handle_message), which posts progress, output chunks
// and the result back. Messages are handled one at a time, in order.
import init, { handle_message } from './pkg/imgforge_web.js';

const ready = init();
let queue = Promise.resolve();
self.onmessage = (e) => {
  const id = e.data?.id;
  queue = queue
    .then(() => ready)
    .then(() => handle_message(e.data))
    .catch((err) => {
      // A panic (a bug): report it; the page starts a fresh worker on Cancel.
      self.postMessage({ id, type: 'error', message: `internal error: ${err?.message ?? err}` });
    });
};
