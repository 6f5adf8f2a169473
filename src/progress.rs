//! Progress on stderr for long inputs: silent for the first second, then a
//! line per second (rewritten in place on a terminal).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    /// When the work started; nothing is shown before a second has passed.
    started: Instant,
    /// When the last line was drawn.
    last_drawn: Option<Instant>,
    /// Total input bytes, when known, for a percentage.
    total_bytes: Option<u64>,
    /// Rewrite one line in place rather than print a line per update.
    in_place: bool,
    /// Set once something was drawn, so `finish` knows to end the line.
    drawn: bool,
}

impl Progress {
    pub fn new(total_bytes: Option<u64>) -> Self {
        Self {
            started: Instant::now(),
            last_drawn: None,
            total_bytes,
            in_place: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    /// Cheap to call often: draws at most once a second.
    pub fn update(&mut self, bytes: u64, records: u64) {
        let now = Instant::now();
        if now.duration_since(self.started) < Duration::from_secs(1)
            || self.last_drawn.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        self.last_drawn = Some(now);
        self.draw(bytes, records);
    }

    fn draw(&mut self, bytes: u64, records: u64) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let pct = self
            .total_bytes
            .filter(|&t| t > 0)
            .map(|t| format!(" ({:.0}%)", 100.0 * bytes as f64 / t as f64))
            .unwrap_or_default();
        let line = format!(
            "replay: {:.1} MB{pct}, {records} records, {:.0} records/s, {:.1} MB/s",
            bytes as f64 / 1e6,
            records as f64 / secs,
            bytes as f64 / 1e6 / secs
        );
        let mut err = std::io::stderr().lock();
        if self.in_place {
            let _ = write!(err, "\r{line}\x1b[K");
        } else {
            let _ = writeln!(err, "{line}");
        }
        self.drawn = true;
    }

    pub fn finish(&mut self, bytes: u64, records: u64) {
        if self.drawn {
            self.draw(bytes, records);
            if self.in_place {
                eprintln!();
            }
        }
    }
}
