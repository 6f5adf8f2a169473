//! The binary's errors, and the exit code each one maps to.
//!
//! Everything below `main` returns `anyhow::Error`; what kind of failure it was is
//! recovered here, once, by downcasting:
//! - a refused rule set ([`engine::RuleErrors`], every problem at `path:line:col`) and
//!   a [`UsageError`] (bad arguments, a missing file, a bad config) exit 2;
//! - anything else (I/O, Kafka, a failed source) exits 1.

use std::process::ExitCode;

/// A mistake in how logpulse was called (bad arguments, missing files, a bad config): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Prints `error` to stderr as the user should see it, and returns its exit code.
pub fn report(error: &anyhow::Error) -> ExitCode {
    if let Some(rule_errors) = error.downcast_ref::<engine::RuleErrors>() {
        eprintln!("{rule_errors}");
        return ExitCode::from(2);
    }
    if let Some(usage) = error.downcast_ref::<UsageError>() {
        eprintln!("logpulse: {usage}");
        return ExitCode::from(2);
    }
    eprintln!("logpulse: {error:#}");
    ExitCode::from(1)
}
