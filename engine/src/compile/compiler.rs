//! The compiler's state while a rule set compiles, and how every part reports.
//!
//! Invariants:
//! - a problem is recorded, never returned early: [`Compiler::errors`] collects every
//!   [`RuleError`] of every file at its `path:line:col`, and the caller refuses the
//!   whole set when any was recorded;
//! - every regex of a rule set is parsed and built under the one [`MatcherConfig`]
//!   held here.

use std::ops::Range;

use ingest::error::ConfigError;
use toml::Spanned;

use crate::config::{RuleError, SourceFile};
use crate::duration::parse_duration_ms;
use crate::matcher::MatcherConfig;

pub(super) struct Compiler {
    pub(super) errors: Vec<RuleError>,
    pub(super) matcher_config: MatcherConfig,
}

impl Compiler {
    pub(super) fn err(&mut self, file: &SourceFile, span: Range<usize>, message: impl Into<String>) {
        self.errors.push(file.error_in(span, message));
    }

    pub(super) fn config_error(&mut self, file: &SourceFile, span: Range<usize>, e: ConfigError) {
        self.err(file, span, format!("{}: {}", e.field, e.message));
    }

    pub(super) fn duration_or(
        &mut self,
        file: &SourceFile,
        value: &Option<Spanned<String>>,
        default: i64,
        allow_zero: bool,
    ) -> i64 {
        match value {
            None => default,
            Some(v) => match parse_duration_ms(v.get_ref(), allow_zero) {
                Ok(ms) => ms,
                Err(message) => {
                    self.err(file, v.span(), message);
                    default
                }
            },
        }
    }
}

/// Rule and alert names: `[a-z0-9_]+`.
pub(super) fn name_ok(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A rule's regex that does not parse or build, at the character when known.
pub(super) fn bad_regex(
    file: &SourceFile,
    span: Range<usize>,
    offset: Option<usize>,
    rule: &str,
    message: &str,
) -> RuleError {
    let message = format!("rule '{rule}': bad regex: {message}");
    match offset {
        Some(o) => file.error_inside_string(span, o, message),
        None => file.error_in(span, message),
    }
}
