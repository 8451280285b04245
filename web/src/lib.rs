//! imgforge in the browser: the wasm exports the page and its worker call.
//! JS only holds handles and plain values; Rust owns the state.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The core's version, to check the page and the CLI match.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
