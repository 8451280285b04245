// Thin glue: load the wasm, hand the page to Rust (web/src/page/mod.rs
// start_page, which fails naming any element index.html lacks).
import init, { start_page } from './pkg/imgforge_web.js';

await init();
start_page();
