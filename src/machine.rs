//! What the process reads from the machine it runs on: the wall clock and the host name.
//!
//! The engine never reads either (its clock comes in through `RecordMeta`, so replays are
//! deterministic); the CLI and the worker read them here, in one place.

/// Milliseconds since the Unix epoch by the wall clock (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// This machine's name: the host of lines whose stream names none, and the key of
/// `logpulse produce`'s raw messages.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}
