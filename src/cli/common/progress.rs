//! Progress on stderr while bills download: days done, or a single bill's bytes, rate and
//! time left, for a person at a terminal.

use std::sync::OnceLock;

use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use time::Date;

use crate::bill::fetch::Progress;
use crate::output::Printer;

/// Progress on stderr while bills download, for a person watching (a terminal, no -q): the
/// days done of several, or the bytes of a single bill as they arrive.
pub(crate) struct Bars {
    days: Option<ProgressBar>,
    single: bool,
    /// Drawn once the bill starts to arrive, when the server has said or not how big it is.
    bytes: OnceLock<ProgressBar>,
}

impl Bars {
    pub(crate) fn new(printer: &Printer, days: usize) -> Bars {
        let shown = printer.shows_progress();
        Bars {
            days: (shown && days > 1).then(|| {
                ProgressBar::new(days as u64).with_style(
                    ProgressStyle::with_template("{bar:30} {pos}/{len} days {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                )
            }),
            single: shown && days == 1,
            bytes: OnceLock::new(),
        }
    }

    pub(crate) fn clear(&self) {
        for bar in self.days.iter().chain(self.bytes.get()) {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bars {
    fn received(&self, _date: Date, received: u64, size: Option<u64>) {
        if !self.single {
            return;
        }
        let bar = self.bytes.get_or_init(|| bytes_bar(size));
        if received < bar.position() {
            // Tried again from the start.
            bar.reset();
        }
        // Set only when it changes: setting draws, and the first drawing should show bytes.
        if let Some(size) = size.filter(|size| bar.length() != Some(*size)) {
            bar.set_length(size);
        }
        bar.set_position(received);
    }

    fn day_done(&self, _date: Date) {
        if let Some(bar) = &self.days {
            bar.inc(1);
        }
    }
}

/// Bytes received, the rate and, when the size is known, a bar and the time left.
fn bytes_bar(size: Option<u64>) -> ProgressBar {
    let template = match size {
        Some(_) => "{bar:30} {received} of {size}, {rate}, {eta} left",
        None => "{spinner} {received}, {rate}",
    };
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "received",
            |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = out.write_str(&binary_size(state.pos() as f64));
            },
        )
        .with_key(
            "size",
            |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = out.write_str(&binary_size(state.len().unwrap_or(0) as f64));
            },
        )
        .with_key(
            "rate",
            |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = out.write_str(&byte_rate(state.per_sec()));
            },
        );
    let bar = ProgressBar::with_draw_target(size, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(style);
    bar
}

/// Bytes as people read them: `234 B`, `1.2 MiB`, `35 MiB` (one decimal below 10).
fn binary_size(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = if bytes.is_finite() {
        bytes.max(0.0)
    } else {
        0.0
    };
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value >= 9.95 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A rate of bytes as people read it: `234 B/s`, `1.2 MiB/s`.
fn byte_rate(per_second: f64) -> String {
    format!("{}/s", binary_size(per_second))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_rates_are_rounded() {
        assert_eq!(binary_size(0.0), "0 B");
        assert_eq!(binary_size(234.0), "234 B");
        assert_eq!(binary_size(1023.0), "1023 B");
        assert_eq!(binary_size(1024.0), "1.0 KiB");
        assert_eq!(binary_size(1.2 * 1024.0 * 1024.0), "1.2 MiB");
        assert_eq!(binary_size(35.4 * 1024.0 * 1024.0), "35 MiB");
        assert_eq!(byte_rate(234.1391), "234 B/s");
        assert_eq!(byte_rate(1_258_291.2), "1.2 MiB/s");
        assert_eq!(byte_rate(9.96 * 1024.0), "10 KiB/s");
        assert_eq!(byte_rate(f64::NAN), "0 B/s");
    }
}
