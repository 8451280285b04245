//! An indicatif progress bar behind the core's [`Progress`] trait. By
//! default it only appears once a job has run for a second, so quick jobs
//! print nothing; `convert -p` shows it at once, `convert` without `-p`
//! never.

use imgforge_core::io::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::{Duration, Instant};

pub struct Bar {
    bar: ProgressBar,
    /// When the bar may appear; `None`: never.
    show_after: Option<Instant>,
}

impl Bar {
    /// A bar that appears after the job has run for a second.
    pub fn new() -> Bar {
        Bar::showing_after(Some(Duration::from_secs(1)))
    }

    /// `convert -p`: a bar from the start; without `-p`, none.
    pub fn when(show: bool) -> Bar {
        Bar::showing_after(show.then_some(Duration::ZERO))
    }

    fn showing_after(delay: Option<Duration>) -> Bar {
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
            show_after: delay.map(|d| Instant::now() + d),
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn report(&self, phase: &str, done: u64, total: u64) {
        if self.bar.is_hidden() && self.show_after.is_some_and(|t| Instant::now() >= t) {
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
