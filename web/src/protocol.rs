//! The page↔worker protocol: what the page (and `www/imgforge.js`) posts to
//! the build worker ([`Request`]) and what the worker posts back ([`Event`]),
//! as Rust types. The worker ([`crate::worker`]) decodes requests and
//! encodes events with these types, the page ([`crate::page`]) the other
//! way round; docs/protocol.md describes the same messages for JS callers.
//!
//! On the wire every message is one plain JS object: a request is
//! `{id, cmd, ...fields}`, an event `{id, type, ...fields}`; `id` is the
//! number the sender chose for the request, repeated on every event about
//! it. Files and output bytes travel as the JS objects they are (`Blob`,
//! `Uint8Array`, transferred, never copied through Rust), through
//! serde-wasm-bindgen's `preserve`.
//!
//! Why the tag (`cmd`, `type`) is read and written here by hand rather than
//! by `#[serde(tag = ..)]`: serde decodes an internally tagged enum by first
//! buffering the object into its own value tree, and a `Blob` or
//! `Uint8Array` does not survive that. So each variant's body is a
//! plain struct deriving serde, decoded from the whole message once the tag
//! has chosen it; the fields they do not name (`id`, `cmd`) are ignored.
//!
//! Errors keep their kind: a core [`imgforge_core::Error`] becomes a
//! [`JobError`] whose [`ErrorKind`] is its variant and whose `subject` is
//! the field, file or structure it names; `message` is the error's text as
//! the CLI prints it.

use crate::recipe::Syntax;
use js_sys::{Object, Reflect, Uint8Array};
use serde::{de::DeserializeOwned, Deserialize, Deserializer, Serialize, Serializer};
use serde_wasm_bindgen::preserve;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Blob;

/// The number a request is known by: chosen by the sender, repeated on
/// every event the request causes.
pub type JobId = u32;

/// The name of the OPFS file a job writes when the request names none.
pub const DEFAULT_OUTPUT_NAME: &str = "imgforge-out.bin";

/// What the worker is asked to do. One job at a time: the worker answers
/// requests in the order they came.
#[derive(Debug, Clone)]
pub enum Request {
    /// `cmd: "inspect"`: the image's info; `done.result` = the report
    /// (docs/inspect-json.md).
    Inspect(Inspect),
    /// `cmd: "list_dir"`: a directory of a filesystem inside an image;
    /// `done.result` = its entries (engine::list_dir).
    ListDir(ListDir),
    /// `cmd: "read_file"`: a file from inside an image, as an output.
    ReadFile(ListDir, Output),
    /// `cmd: "build"`: a recipe built into an output.
    Build(Build, Output),
    /// `cmd: "convert"`: an image rewritten in another container format.
    Convert(Convert, Output),
    /// `cmd: "panic"`: the worker panics (the browser test of the page's
    /// crash recovery).
    Panic,
}

/// An image, given as a `File` or `Blob`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Inspect {
    #[serde(with = "preserve")]
    pub file: Blob,
}

/// A path in the filesystem of partition `part` (none: the whole image is
/// one filesystem) of `file`. The worker keeps the filesystem's tree under
/// (`key`, `part`) for the next requests (an empty key: not kept).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListDir {
    #[serde(with = "preserve")]
    pub file: Blob,
    #[serde(default)]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<u32>,
    /// `list_dir`: "/" when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A build: the recipe's text and the files it may read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Build {
    pub recipe: String,
    /// How `recipe` is spelled; guessed from the text when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "syntax_name",
        deserialize_with = "syntax_from_name"
    )]
    pub syntax: Option<Syntax>,
    /// `[[path, File|Blob], ...]`: every file the user gave; the worker
    /// reads only those the recipe names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<Input>>,
    /// Inputs up to this many bytes are read whole before the build starts
    /// (32 MiB when absent, at most 128 MiB in all; 0: all on demand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefetch: Option<f64>,
}

/// One input of a build: `[path, File|Blob]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Input(pub String, #[serde(with = "preserve")] pub Blob);

/// A convert: `file` rewritten as `format` (`raw`, `qcow2`, ...); `opts`
/// the output table of a recipe as JSON text (`{"compress": true}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Convert {
    #[serde(with = "preserve")]
    pub file: Blob,
    #[serde(default)]
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opts: Option<String>,
}

/// Where a job's output goes: `out`, `name`, `patch` beside the request's
/// other fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Output {
    #[serde(default)]
    pub out: OutputMode,
    /// The OPFS file's name ([`DEFAULT_OUTPUT_NAME`] when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The receiver of `chunks` also takes `patch` events (bytes to
    /// overwrite behind the end), so a qcow2 is written in one pass.
    #[serde(default)]
    pub patch: bool,
}

impl Output {
    /// The OPFS file's name.
    pub fn file_name(&self) -> &str {
        self.name.as_deref().unwrap_or(DEFAULT_OUTPUT_NAME)
    }
}

/// `out`: where the output goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputMode {
    /// An OPFS file where this browser has OPFS, else chunks.
    #[default]
    Auto,
    /// An OPFS file, or an error.
    Opfs,
    /// `chunk`/`hole` (and `patch`) events.
    Chunks,
}

/// What the worker tells the sender of a request. Every job ends with one
/// `done` or `error`; before that come `progress` and, for an output sent
/// as chunks, `chunk`, `hole` and `patch` events in output order.
#[derive(Debug, Clone)]
pub enum Event {
    /// `type: "progress"`: at most ~10 a second, and on every new phase.
    Progress(Progress),
    /// `type: "chunk"`: the next bytes of the output (up to 1 MiB; the
    /// buffer is transferred).
    Chunk(Chunk),
    /// `type: "hole"`: the next `len` bytes of the output are zeros.
    Hole(Hole),
    /// `type: "patch"`: bytes to overwrite at `offset`, before the end
    /// (only when the request said `patch: true`).
    Patch(Patch),
    /// `type: "done"`: the job's result.
    Done(Done),
    /// `type: "error"`: the job failed.
    Error(JobError),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    pub phase: String,
    #[serde(with = "number")]
    pub done: u64,
    #[serde(with = "number")]
    pub total: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Chunk {
    #[serde(with = "preserve")]
    pub data: Uint8Array,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hole {
    #[serde(with = "number")]
    pub len: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Patch {
    #[serde(with = "number")]
    pub offset: u64,
    #[serde(with = "preserve")]
    pub data: Uint8Array,
}

/// The result of a job; which fields are set depends on the request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Done {
    /// `inspect`, `list_dir`: the answer, a plain JS value (JSON's shapes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Json>,
    /// Jobs with an output: where it went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputKind>,
    /// `output: "opfs"`: the OPFS file's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Jobs with an output: its size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_number")]
    pub size: Option<u64>,
    /// `build`: the builder's warnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
    /// `build`: how many inputs were read whole before the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefetched: Option<u32>,
    /// `convert` of a raw image to qcow2: how many reader workers read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readers: Option<u32>,
}

/// `done.output`: where the output went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// The OPFS file `done.name`.
    Opfs,
    /// The `chunk`/`hole` events before `done`.
    Chunks,
}

/// A JSON-shaped JS value (an object from `JSON.parse`), passed as is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Json(#[serde(with = "preserve")] pub JsValue);

impl Json {
    /// The value as JS sees it: what `JSON.parse` makes of its text.
    pub fn from_value(v: &serde_json::Value) -> Json {
        Json(js_sys::JSON::parse(&v.to_string()).unwrap_or(JsValue::NULL))
    }

    /// The value's JSON text, indented by two spaces.
    pub fn pretty(&self) -> String {
        js_sys::JSON::stringify_with_replacer_and_space(&self.0, &JsValue::NULL, &2.into())
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default()
    }
}

/// One row of a `list_dir` answer (`done.result` is an array of them, in
/// the order engine::list_dir gives: directories first, then by name).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DirEntry {
    pub name: String,
    /// `dir`, `file`, `symlink`, `chardev`, `blockdev`, `fifo` or `socket`.
    pub kind: String,
    /// A file's length, a link target's length, else 0.
    #[serde(default)]
    pub size: f64,
    /// `ls -l`'s mode column: `-rw-r--r--`.
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub uid: f64,
    #[serde(default)]
    pub gid: f64,
    /// Seconds since 1970.
    #[serde(default)]
    pub mtime: f64,
    /// A symlink's target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// A directory's number of entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<f64>,
    /// A device node's `major,minor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// A failed job: `{type: "error", kind, subject?, message, fatal?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobError {
    /// An unknown or missing kind reads as [`ErrorKind::Internal`].
    #[serde(default = "internal", deserialize_with = "kind_or_internal")]
    pub kind: ErrorKind,
    /// The field, file, format or structure the error names, when it names
    /// one (a core error's `key`, `field`, `what` or `context`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The whole message, as the CLI would print it.
    #[serde(default)]
    pub message: String,
    /// The worker cannot go on (a panic, set by www/worker.js): the page
    /// replaces it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fatal: bool,
}

/// What kind of failure a [`JobError`] is: the core's error variants, and
/// the few ways the browser side fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// An image (or part of one) is not valid.
    Corrupt,
    /// A valid image with a feature imgforge does not handle.
    Unsupported,
    /// An input ended before a structure it should hold.
    Truncated,
    /// A recipe or option value is wrong (a missing input file, too).
    Invalid,
    /// Something does not fit (the disk, a filesystem, the browser's storage).
    NoSpace,
    /// The job was cancelled.
    Cancelled,
    /// Reading an input or writing the output failed.
    Io,
    /// A browser API failed (OPFS, the reader workers).
    Browser,
    /// The request itself is malformed (an unknown `cmd`, a missing field).
    Request,
    /// A bug: the worker panicked.
    Internal,
}

fn internal() -> ErrorKind {
    ErrorKind::Internal
}

/// A `kind` this page does not know (a newer worker's) is still an error.
fn kind_or_internal<'de, D: Deserializer<'de>>(de: D) -> Result<ErrorKind, D::Error> {
    use serde::de::value::{Error, StrDeserializer};
    let name = Option::<String>::deserialize(de)?;
    Ok(name
        .and_then(|n| ErrorKind::deserialize(StrDeserializer::<Error>::new(&n)).ok())
        .unwrap_or(ErrorKind::Internal))
}

impl JobError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> JobError {
        JobError {
            kind,
            subject: None,
            message: message.into(),
            fatal: false,
        }
    }

    /// A browser API failed.
    pub fn browser(message: impl Into<String>) -> JobError {
        JobError::new(ErrorKind::Browser, message)
    }

    /// The request is malformed.
    pub fn request(message: impl Into<String>) -> JobError {
        JobError::new(ErrorKind::Request, message)
    }

    /// The same error with `prefix: ` before its message (its kind and
    /// subject kept).
    pub fn context(mut self, prefix: impl std::fmt::Display) -> JobError {
        self.message = format!("{prefix}: {}", self.message);
        self
    }

    /// A missing input file of a build (the core's "input file not
    /// provided"): the page adds a hint.
    pub fn is_missing_input(&self) -> bool {
        self.kind == ErrorKind::Invalid && self.message.ends_with("input file not provided")
    }
}

impl From<imgforge_core::Error> for JobError {
    fn from(e: imgforge_core::Error) -> JobError {
        use imgforge_core::Error as E;
        let message = e.to_string();
        let (kind, subject) = match &e {
            E::Corrupt { field, format, .. } => {
                (ErrorKind::Corrupt, Some(format!("{format}: {field}")))
            }
            E::Unsupported { format, .. } => (ErrorKind::Unsupported, Some(format.to_string())),
            E::Truncated { what, .. } => (ErrorKind::Truncated, Some(what.clone())),
            E::Invalid { key, .. } => (ErrorKind::Invalid, Some(key.clone())),
            E::NoSpace { what, .. } => (ErrorKind::NoSpace, Some(what.clone())),
            E::Cancelled => (ErrorKind::Cancelled, None),
            E::Io { context, .. } => (ErrorKind::Io, Some(context.clone())),
            // The core's error is non-exhaustive.
            _ => (ErrorKind::Io, None),
        };
        JobError {
            kind,
            subject,
            message,
            fatal: false,
        }
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A message that does not decode (a malformed request or event).
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<DecodeError> for JobError {
    fn from(e: DecodeError) -> JobError {
        JobError::request(e.0)
    }
}

impl Request {
    /// The request's `cmd`.
    pub fn cmd(&self) -> &'static str {
        match self {
            Request::Inspect(_) => "inspect",
            Request::ListDir(_) => "list_dir",
            Request::ReadFile(..) => "read_file",
            Request::Build(..) => "build",
            Request::Convert(..) => "convert",
            Request::Panic => "panic",
        }
    }

    /// The message to post: `{id, cmd, ...}`.
    pub fn encode(&self, id: JobId) -> Result<JsValue, DecodeError> {
        let (body, output) = match self {
            Request::Inspect(b) => (to_js(b)?, None),
            Request::ListDir(b) => (to_js(b)?, None),
            Request::ReadFile(b, o) => (to_js(b)?, Some(o)),
            Request::Build(b, o) => (to_js(b)?, Some(o)),
            Request::Convert(b, o) => (to_js(b)?, Some(o)),
            Request::Panic => (Object::new().into(), None),
        };
        if let Some(o) = output {
            let fields: JsValue = to_js(o)?;
            Object::assign(
                body.unchecked_ref::<Object>(),
                fields.unchecked_ref::<Object>(),
            );
        }
        tag(&body, id, "cmd", self.cmd());
        Ok(body)
    }

    /// Decodes a message `{id, cmd, ...}`: the id (if it is one) and the
    /// request, or why it is not one.
    pub fn decode(msg: &JsValue) -> (Option<JobId>, Result<Request, DecodeError>) {
        let id = read_id(msg);
        let cmd = get(msg, "cmd").as_string().unwrap_or_default();
        let body = || -> Result<Request, DecodeError> {
            Ok(match cmd.as_str() {
                "inspect" => Request::Inspect(from_js(msg, &cmd)?),
                "list_dir" => Request::ListDir(from_js(msg, &cmd)?),
                "read_file" => Request::ReadFile(from_js(msg, &cmd)?, from_js(msg, &cmd)?),
                "build" => Request::Build(from_js(msg, &cmd)?, from_js(msg, &cmd)?),
                "convert" => Request::Convert(from_js(msg, &cmd)?, from_js(msg, &cmd)?),
                "panic" => Request::Panic,
                other => return Err(DecodeError(format!("unknown command '{other}'"))),
            })
        };
        (id, body())
    }
}

impl Event {
    /// The event's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Progress(_) => "progress",
            Event::Chunk(_) => "chunk",
            Event::Hole(_) => "hole",
            Event::Patch(_) => "patch",
            Event::Done(_) => "done",
            Event::Error(_) => "error",
        }
    }

    /// True for the events that end a job (`done`, `error`).
    pub fn ends_job(&self) -> bool {
        matches!(self, Event::Done(_) | Event::Error(_))
    }

    /// The message to post: `{id, type, ...}`. `id` is the request's id as
    /// it came (a request without a usable id still gets its error).
    pub fn encode(&self, id: &JsValue) -> Result<JsValue, DecodeError> {
        let body = match self {
            Event::Progress(b) => to_js(b)?,
            Event::Chunk(b) => to_js(b)?,
            Event::Hole(b) => to_js(b)?,
            Event::Patch(b) => to_js(b)?,
            Event::Done(b) => to_js(b)?,
            Event::Error(b) => to_js(b)?,
        };
        let _ = Reflect::set(&body, &"id".into(), id);
        let _ = Reflect::set(&body, &"type".into(), &self.kind().into());
        Ok(body)
    }

    /// Decodes a message `{id, type, ...}` from the worker.
    pub fn decode(msg: &JsValue) -> (Option<JobId>, Result<Event, DecodeError>) {
        let id = read_id(msg);
        let kind = get(msg, "type").as_string().unwrap_or_default();
        let body = || -> Result<Event, DecodeError> {
            Ok(match kind.as_str() {
                "progress" => Event::Progress(from_js(msg, &kind)?),
                "chunk" => Event::Chunk(from_js(msg, &kind)?),
                "hole" => Event::Hole(from_js(msg, &kind)?),
                "patch" => Event::Patch(from_js(msg, &kind)?),
                "done" => Event::Done(from_js(msg, &kind)?),
                "error" => Event::Error(from_js(msg, &kind)?),
                other => return Err(DecodeError(format!("unknown event type '{other}'"))),
            })
        };
        (id, body())
    }
}

fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

/// `id` when it is a whole number that fits a [`JobId`].
fn read_id(msg: &JsValue) -> Option<JobId> {
    get(msg, "id")
        .as_f64()
        .filter(|n| n.fract() == 0.0 && *n >= 0.0 && *n <= JobId::MAX as f64)
        .map(|n| n as JobId)
}

fn tag(body: &JsValue, id: JobId, key: &str, value: &str) {
    let _ = Reflect::set(body, &"id".into(), &id.into());
    let _ = Reflect::set(body, &key.into(), &value.into());
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, DecodeError> {
    v.serialize(&serde_wasm_bindgen::Serializer::new())
        .map_err(|e| DecodeError(e.to_string()))
}

fn from_js<T: DeserializeOwned>(msg: &JsValue, what: &str) -> Result<T, DecodeError> {
    serde_wasm_bindgen::from_value(msg.clone()).map_err(|e| DecodeError(format!("{what}: {e}")))
}

fn syntax_name<S: Serializer>(s: &Option<Syntax>, ser: S) -> Result<S::Ok, S::Error> {
    match s {
        Some(s) => ser.serialize_str(s.name()),
        None => ser.serialize_none(),
    }
}

/// Any name but `json` (in any case) is TOML, as `Syntax::parse` reads it.
fn syntax_from_name<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Syntax>, D::Error> {
    Ok(Option::<String>::deserialize(de)?.map(|s| Syntax::parse(&s)))
}

/// Byte counts as JS numbers: exact up to 2^53 (9 PiB), rounded above, as
/// `as f64` rounds; never an error.
mod number {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(n: &u64, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_f64(*n as f64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<u64, D::Error> {
        // `as` saturates: a negative or NaN count reads as 0.
        Ok(f64::deserialize(de)? as u64)
    }
}

mod opt_number {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(n: &Option<u64>, ser: S) -> Result<S::Ok, S::Error> {
        match n {
            Some(n) => ser.serialize_f64(*n as f64),
            None => ser.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u64>, D::Error> {
        Ok(Option::<f64>::deserialize(de)?.map(|n| n as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_keep_their_kind_and_subject() {
        let e = JobError::from(imgforge_core::Error::invalid(
            "inputs/BOOTX64.EFI",
            "input file not provided",
        ));
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert_eq!(e.subject.as_deref(), Some("inputs/BOOTX64.EFI"));
        assert_eq!(e.message, "inputs/BOOTX64.EFI: input file not provided");
        assert!(e.is_missing_input());
        let e = JobError::from(imgforge_core::Error::no_space("output", "too big"))
            .context("partition 2");
        assert_eq!(e.kind, ErrorKind::NoSpace);
        assert_eq!(e.message, "partition 2: output: too big");
        assert!(!e.is_missing_input());
    }

    #[test]
    fn error_kinds_have_their_wire_names_and_unknown_ones_read_as_internal() {
        let e = JobError::new(ErrorKind::NoSpace, "output: full");
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(text, r#"{"kind":"no_space","message":"output: full"}"#);
        let back: JobError = serde_json::from_str(&text).unwrap();
        assert_eq!(back, e);
        let odd: JobError = serde_json::from_str(r#"{"kind":"weird","message":"m"}"#).unwrap();
        assert_eq!(odd.kind, ErrorKind::Internal);
        let bare: JobError = serde_json::from_str(r#"{"message":"m","fatal":true}"#).unwrap();
        assert_eq!((bare.kind, bare.fatal), (ErrorKind::Internal, true));
    }
}
