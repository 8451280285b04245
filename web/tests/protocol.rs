//! The page↔worker protocol in a real browser worker: requests and events
//! survive encoding (the wire shape docs/protocol.md describes, the JS
//! objects inside kept as they are), the messages JS callers write by hand
//! decode, and errors keep their kind.
//! Run: CHROMEDRIVER=/usr/bin/chromedriver cargo test -p imgforge-web
//!      --target wasm32-unknown-unknown --test protocol
//!      (runner: wasm-bindgen-test-runner).
#![cfg(target_arch = "wasm32")]

use imgforge_web::protocol::{
    Build, Chunk, Done, ErrorKind, Event, Input, JobError, ListDir, Output, OutputKind, OutputMode,
    Request,
};
use imgforge_web::recipe::Syntax;
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

fn blob(bytes: &[u8]) -> web_sys::Blob {
    let parts = Array::of1(&Uint8Array::from(bytes));
    web_sys::Blob::new_with_u8_array_sequence(&parts).unwrap()
}

fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &k.into()).unwrap()
}

/// A message as JS would write it: `{k: v, ...}`.
fn js(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &(*k).into(), v).unwrap();
    }
    o.into()
}

#[wasm_bindgen_test]
fn a_build_request_has_the_wire_shape_and_comes_back() {
    let file = blob(b"kernel");
    let build = Build {
        recipe: "[disk]\nsize = \"8M\"\n".into(),
        syntax: Some(Syntax::Toml),
        files: Some(vec![Input("inputs/vmlinuz".into(), file.clone())]),
        prefetch: None,
    };
    let output = Output {
        out: OutputMode::Chunks,
        name: Some("imgforge-out-7-disk.img".into()),
        patch: true,
    };
    let msg = Request::Build(build, output).encode(7).unwrap();
    assert_eq!(get(&msg, "id").as_f64(), Some(7.0));
    assert_eq!(get(&msg, "cmd").as_string().as_deref(), Some("build"));
    assert_eq!(get(&msg, "syntax").as_string().as_deref(), Some("toml"));
    assert_eq!(get(&msg, "out").as_string().as_deref(), Some("chunks"));
    assert_eq!(get(&msg, "patch").as_bool(), Some(true));
    assert!(!Reflect::has(&msg, &"prefetch".into()).unwrap());
    let pair = Array::from(&Array::from(&get(&msg, "files")).get(0));
    assert_eq!(pair.get(0).as_string().as_deref(), Some("inputs/vmlinuz"));
    // The Blob itself, not a copy or a description of it.
    assert!(Object::is(&pair.get(1), &file));

    let (id, back) = Request::decode(&msg);
    assert_eq!(id, Some(7));
    let Ok(Request::Build(b, o)) = back else {
        panic!("decoded as {back:?}");
    };
    assert_eq!(b.recipe, "[disk]\nsize = \"8M\"\n");
    assert_eq!(b.syntax, Some(Syntax::Toml));
    let files = b.files.unwrap();
    assert_eq!(files[0].0, "inputs/vmlinuz");
    assert!(Object::is(&files[0].1, &file));
    assert_eq!(
        (o.out, o.file_name(), o.patch),
        (OutputMode::Chunks, "imgforge-out-7-disk.img", true)
    );
}

#[wasm_bindgen_test]
fn requests_written_by_hand_decode_with_their_defaults() {
    // As www/imgforge.js and the browser tests write them.
    let file = blob(b"image");
    let msg = js(&[
        ("id", 3.into()),
        ("cmd", "list_dir".into()),
        ("file", file.clone().into()),
        ("key", "api-1".into()),
        ("part", JsValue::UNDEFINED),
        ("path", "/EFI".into()),
    ]);
    let (id, r) = Request::decode(&msg);
    assert_eq!(id, Some(3));
    let Ok(Request::ListDir(ListDir {
        key, part, path, ..
    })) = r
    else {
        panic!("decoded as {r:?}");
    };
    assert_eq!(
        (key.as_str(), part, path.as_deref()),
        ("api-1", None, Some("/EFI"))
    );

    let msg = js(&[
        ("id", 1.into()),
        ("cmd", "build".into()),
        ("recipe", "{}".into()),
        ("files", Array::new().into()),
        ("out", "opfs".into()),
        ("prefetch", 0.into()),
    ]);
    let Ok(Request::Build(b, o)) = Request::decode(&msg).1 else {
        panic!("build");
    };
    assert_eq!((b.syntax, b.prefetch), (None, Some(0.0)));
    assert_eq!(
        (o.out, o.file_name(), o.patch),
        (OutputMode::Opfs, "imgforge-out.bin", false)
    );

    let msg = js(&[
        ("id", 2.into()),
        ("cmd", "convert".into()),
        ("file", file.into()),
        ("format", "qcow2".into()),
    ]);
    let Ok(Request::Convert(c, o)) = Request::decode(&msg).1 else {
        panic!("convert");
    };
    assert_eq!(
        (c.format.as_str(), c.opts, o.out),
        ("qcow2", None, OutputMode::Auto)
    );
}

#[wasm_bindgen_test]
fn malformed_requests_say_what_is_wrong() {
    let (id, r) = Request::decode(&js(&[("id", 4.into()), ("cmd", "format_disk".into())]));
    assert_eq!(id, Some(4));
    assert_eq!(r.unwrap_err().0, "unknown command 'format_disk'");
    // A file that is no Blob.
    let (_, r) = Request::decode(&js(&[
        ("id", 5.into()),
        ("cmd", "inspect".into()),
        ("file", "disk.img".into()),
    ]));
    let e = JobError::from(r.unwrap_err());
    assert_eq!(e.kind, ErrorKind::Request);
    assert!(e.message.starts_with("inspect: "), "{}", e.message);
    // An id that is no JobId is not made up.
    let (id, _) = Request::decode(&js(&[("id", "x".into()), ("cmd", "panic".into())]));
    assert_eq!(id, None);
}

#[wasm_bindgen_test]
fn events_keep_their_bytes_and_errors_their_kind() {
    let data = Uint8Array::from(&b"chunk"[..]);
    let msg = Event::Chunk(Chunk { data: data.clone() })
        .encode(&9.into())
        .unwrap();
    assert_eq!(get(&msg, "type").as_string().as_deref(), Some("chunk"));
    assert!(Object::is(&get(&msg, "data"), &data));
    let (id, e) = Event::decode(&msg);
    assert_eq!(id, Some(9));
    let Ok(Event::Chunk(c)) = e else {
        panic!("chunk")
    };
    assert_eq!(c.data.to_vec(), b"chunk");

    let done = Done {
        output: Some(OutputKind::Opfs),
        name: Some("out.img".into()),
        size: Some(3 << 30),
        readers: Some(6),
        ..Done::default()
    };
    let msg = Event::Done(done).encode(&9.into()).unwrap();
    assert_eq!(get(&msg, "output").as_string().as_deref(), Some("opfs"));
    assert_eq!(get(&msg, "size").as_f64(), Some((3u64 << 30) as f64));
    assert!(!Reflect::has(&msg, &"result".into()).unwrap());
    let Ok(Event::Done(d)) = Event::decode(&msg).1 else {
        panic!("done")
    };
    assert_eq!(
        (d.size, d.readers, d.warnings),
        (Some(3 << 30), Some(6), None)
    );

    let core = imgforge_core::Error::invalid("inputs/BOOTX64.EFI", "input file not provided");
    let msg = Event::Error(JobError::from(core))
        .encode(&9.into())
        .unwrap();
    assert_eq!(get(&msg, "kind").as_string().as_deref(), Some("invalid"));
    assert_eq!(
        get(&msg, "subject").as_string().as_deref(),
        Some("inputs/BOOTX64.EFI")
    );
    assert!(!Reflect::has(&msg, &"fatal".into()).unwrap());
    let Ok(Event::Error(e)) = Event::decode(&msg).1 else {
        panic!("error")
    };
    assert!(e.is_missing_input());

    // worker.js's answer to a panic.
    let fatal = js(&[
        ("id", JsValue::UNDEFINED),
        ("type", "error".into()),
        ("kind", "internal".into()),
        ("fatal", true.into()),
        ("message", "internal error: unreachable".into()),
    ]);
    let (id, e) = Event::decode(&fatal);
    assert_eq!(id, None);
    let Ok(Event::Error(e)) = e else {
        panic!("fatal")
    };
    assert!(e.fatal && e.kind == ErrorKind::Internal);
}
