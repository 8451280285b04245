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
      // A Rust panic (a bug; console_error_panic_hook has logged it): the
      // wasm instance cannot be trusted after it, so the page replaces
      // this worker ("fatal").
      self.postMessage({ id, type: 'error', fatal: true, message: `internal error: ${err?.message ?? err}` });
    });
};
