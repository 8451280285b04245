//! The worker as the page sees it: it is started (and restarted after a
//! crash or a cancel), sent [`Request`]s, and its [`Event`]s are routed to
//! the running job (the one job slot: a build, an inspect or a file taken
//! out of an image) or to a small request's reply (a directory listing).

use super::dom::set_text;
use super::output::{self, Job};
use super::{dom, get, page, Page};
use crate::protocol::{Done, ErrorKind, Event, JobError, JobId, Request};
use gloo::events::{EventListener, EventListenerOptions};
use imgforge_core::size::human;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

/// What to do with a small request's answer.
pub type Reply = Box<dyn FnOnce(Result<Done, JobError>)>;

/// A running worker and the listeners on it (removed with it).
pub struct Connection {
    worker: Worker,
    _listeners: [EventListener; 2],
}

impl Connection {
    /// Starts www/worker.js as a module worker.
    pub fn start() -> Result<Connection, JsValue> {
        let opts = WorkerOptions::new();
        opts.set_type(WorkerType::Module);
        let worker = Worker::new_with_options("./worker.js", &opts)?;
        let message = EventListener::new(&worker, "message", |e| {
            if let Some(e) = e.dyn_ref::<MessageEvent>() {
                on_message(e.data());
            }
        });
        let error = EventListener::new_with_options(
            &worker,
            "error",
            EventListenerOptions::enable_prevent_default(),
            |e| {
                e.prevent_default();
                let msg = get(e, "message")
                    .as_string()
                    .unwrap_or_else(|| "it stopped (out of memory?)".into());
                crashed(&msg);
            },
        );
        Ok(Connection {
            worker,
            _listeners: [message, error],
        })
    }

    fn terminate(&self) {
        self.worker.terminate();
    }
}

impl Page {
    /// Posts `request` to the worker under `id`.
    pub(super) fn send(&self, id: JobId, request: &Request) {
        let (Some(c), Ok(msg)) = (&self.worker, request.encode(id)) else {
            return;
        };
        let _ = c.worker.post_message(&msg);
    }

    /// Stops the worker, whatever it is doing, and starts a new one; the
    /// running job and the pending requests, taken out.
    fn restart_worker(&mut self) -> (Option<Job>, Vec<(JobId, Reply)>) {
        if let Some(c) = self.worker.take() {
            c.terminate();
        }
        match Connection::start() {
            Ok(c) => self.worker = Some(c),
            Err(e) => web_sys::console::error_1(&e),
        }
        (self.job.take(), std::mem::take(&mut self.requests))
    }
}

/// The worker died or panicked: whatever it was doing is lost. A fresh
/// worker takes its place so the page keeps working.
fn crashed(msg: &str) {
    let (job, requests) = page().borrow_mut().restart_worker();
    let text = format!("The worker crashed: {msg}. It was restarted; try again.");
    for (_, reply) in requests {
        reply(Err(JobError::new(ErrorKind::Internal, text.clone())));
    }
    if let Some(job) = job {
        job.out.abort();
        if job.kind != output::JobKind::Build {
            set_text(&dom().inspect_status, &text);
        }
    }
    web_sys::console::error_1(&text.clone().into());
    set_progress(0.0, 1.0);
    finish_job(&text, true);
}

/// The Cancel button: the worker may be deep in a synchronous write, so
/// stopping it is the only way to interrupt it. A new worker takes its
/// place.
pub fn cancel() {
    let (job, requests) = page().borrow_mut().restart_worker();
    for (_, reply) in requests {
        reply(Err(JobError::new(ErrorKind::Cancelled, "cancelled")));
    }
    if let Some(job) = job {
        job.out.abort();
    }
    set_busy(false);
    set_progress(0.0, 1.0);
    set_text(&dom().status, "Cancelled.");
}

fn on_message(data: JsValue) {
    let (id, event) = Event::decode(&data);
    let event = match event {
        Ok(e) => e,
        Err(e) => {
            web_sys::console::warn_1(&format!("imgforge: a worker message: {e}").into());
            return;
        }
    };
    let p = page();
    let mut pm = p.borrow_mut();
    if event.ends_job() {
        if let Some(i) = pm.requests.iter().position(|(r, _)| Some(*r) == id) {
            let (_, reply) = pm.requests.remove(i);
            drop(pm);
            reply(match event {
                Event::Done(d) => Ok(d),
                Event::Error(e) => Err(e),
                _ => return,
            });
            return;
        }
    }
    if let Event::Error(e) = &event {
        if e.fatal {
            drop(pm);
            crashed(&e.message);
            return;
        }
    }
    let Some(job) = pm.job.as_mut().filter(|j| Some(j.id) == id) else {
        return;
    };
    match event {
        Event::Progress(p) => {
            set_progress(p.done as f64, p.total as f64);
            set_text(
                &dom().status,
                &format!("{} — {} of {}", p.phase, human(p.done), human(p.total)),
            );
        }
        Event::Chunk(c) => job.out.chunk(c.data),
        Event::Hole(h) => job.out.hole(h.len as f64),
        Event::Patch(patch) => {
            // Bytes to overwrite behind the end (a qcow2 header, written last).
            // Counted on #status (data-patches) for the browser tests.
            let status = &dom().status;
            let n = status
                .get_attribute("data-patches")
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0);
            let _ = status.set_attribute("data-patches", &(n + 1).to_string());
            job.out.patch(patch.offset as f64, patch.data);
        }
        Event::Done(done) => {
            if let Some(job) = pm.job.take() {
                drop(pm);
                spawn_local(output::complete(job, Ok(done)));
            }
        }
        Event::Error(e) => {
            if let Some(job) = pm.job.take() {
                drop(pm);
                spawn_local(output::complete(job, Err(e)));
            }
        }
    }
}

/// Build and Cancel follow whether a job runs.
pub fn set_busy(busy: bool) {
    let d = dom();
    d.build.set_disabled(busy);
    d.cancel.set_disabled(!busy);
    let _ = d.actions.class_list().toggle_with_force("busy", busy);
}

pub fn set_progress(done: f64, total: f64) {
    let bar = &dom().progress;
    bar.set_max(total.max(1.0));
    bar.set_value(done);
}

/// The job slot is free again: `msg` (if any) in the status line.
pub fn finish_job(msg: &str, error: bool) {
    if error {
        page().borrow_mut().job = None;
    }
    set_busy(false);
    let status = &dom().status;
    if !msg.is_empty() {
        set_text(status, msg);
    }
    let _ = status.class_list().toggle_with_force("error", error);
}

/// "0.05 s" since `started`; also left in the status line's `data-ms`
/// (benchmarks read it).
pub fn took(started: f64) -> String {
    let ms = super::now_ms() - started;
    let _ = dom().status.set_attribute("data-ms", &format!("{ms:.1}"));
    format!("{:.2} s", ms / 1000.0)
}
