//! Progress bars on a terminal (rate and ETA), silence elsewhere.

use custodia_vault::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// A progress bar on stderr when it is a terminal.
pub struct Bar(ProgressBar);

impl Bar {
    /// A bar with `label`, hidden unless stderr is a terminal.
    pub fn new(label: &'static str) -> Bar {
        let pb = ProgressBar::with_draw_target(
            None,
            if std::io::stderr().is_terminal() {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        pb.set_prefix(label);
        // Until the total is known, show only the label (not an empty bar).
        pb.set_style(ProgressStyle::with_template("{prefix:>10} …").expect("valid template"));
        Bar(pb)
    }
}

impl Progress for Bar {
    fn start(&self, total: u64, unit: &'static str) {
        self.0.set_length(total);
        let template = if unit == "bytes" {
            "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}"
        } else {
            "{prefix:>10} [{bar:30}] {human_pos}/{human_len} {rate} ETA {eta}"
        };
        self.0.set_style(
            ProgressStyle::with_template(template)
                .expect("valid template")
                // Whole records a second, grouped: "109,645/s", not "109645.3027/s".
                .with_key("rate", |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}/s", indicatif::HumanCount(s.per_sec() as u64));
                })
                .progress_chars("=> "),
        );
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
