//! Crash injection for tests of the binary: `LOGPULSE_FAULT=<point>:<n>` aborts the
//! process (no unwinding, no destructors, like `kill -9`) the `n`-th time execution
//! reaches `point`. Unset, a point costs one relaxed atomic load.
//!
//! Points: `parquet.before_rename` (a Parquet file is written and fsynced under its temp
//! name, not yet renamed into place).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

struct Armed {
    point: String,
    /// Hits left before the abort.
    remaining: AtomicU64,
}

static ARMED: OnceLock<Option<Armed>> = OnceLock::new();

fn armed() -> &'static Option<Armed> {
    ARMED.get_or_init(|| {
        let spec = std::env::var("LOGPULSE_FAULT").ok()?;
        let (point, n) = spec.rsplit_once(':').unwrap_or((spec.as_str(), "1"));
        let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
        Some(Armed { point: point.to_string(), remaining: AtomicU64::new(n) })
    })
}

/// Aborts here if `LOGPULSE_FAULT` names this point and its count is reached.
pub fn point(name: &str) {
    if let Some(armed) = armed()
        && armed.point == name
        && armed.remaining.fetch_sub(1, Ordering::Relaxed) == 1
    {
        eprintln!("logpulse: LOGPULSE_FAULT: aborting at {name}");
        std::process::abort();
    }
}
