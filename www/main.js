// Thin glue: load the wasm, hand the page to Rust (web/src/page.rs).
import init, { start_page } from './pkg/imgforge_web.js';

await init();
start_page();
