//! An indicatif progress bar behind the core's [`Progress`] trait; it only
//! appears once a job has run for a second, so quick jobs print nothing.

use imgforge_core::io::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::{Duration, Instant};

pub struct Bar {
    bar: ProgressBar,
    started: Instant,
}

impl Bar {
    pub fn new() -> Bar {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:12} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Bar {
            bar,
            started: Instant::now(),
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn report(&self, phase: &str, done: u64, total: u64) {
        if self.bar.is_hidden() && self.started.elapsed() > Duration::from_secs(1) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        if self.bar.length() != Some(total) {
            self.bar.set_length(total);
        }
        if self.bar.message() != phase {
            self.bar.set_message(phase.to_string());
        }
        self.bar.set_position(done);
    }
}
