//! Rule set compilation: rule files in, a [`RuleSet`] out.
//!
//! Invariants:
//! - a rule set is all or nothing: every problem of every file is collected
//!   as a [`RuleError`](crate::config::RuleError) at its `path:line:col`, and any
//!   error refuses the set;
//! - every name a rule uses (group_by, filter, value) is resolved here to a
//!   [`Slot`], so the hot path never looks a name up;
//! - all `match`/`regex` patterns of a stream are compiled into that stream's
//!   one [`MultiMatcher`](crate::matcher::MultiMatcher); pattern `i` of the matcher
//!   belongs to `stream.pattern_rules[i]`.
//!
//! Where things are (each file's doc states its own invariants):
//! - `rule_set`: [`RuleSet`], and the order a set compiles in (streams, rules,
//!   matchers, alerts);
//! - `stream`: [`Stream`] and its [`Decoder`], and `[[stream]]` compilation;
//! - `decode`: the one decode path, records to events ([`Stream::decode_record`]);
//! - `rule`: [`Rule`], [`Slot`], [`ValueSource`], name resolution, and the
//!   compilation of a `[[rule]]` of one's own;
//! - `packs`: the builtin packs (`builtin = "nginx"`, Qalarm's default key);
//! - `alert`: [`AlertSpec`] and `[[alert]]` compilation;
//! - `compiler`: the state every part reports its errors to;
//! - `ids`: [`StreamId`] and [`RuleId`];
//! - durations are [`crate::duration`]'s ([`parse_duration_ms`]).

mod alert;
mod compiler;
mod decode;
mod ids;
mod packs;
mod rule;
mod rule_set;
mod stream;

pub use alert::{AlertKind, AlertSpec, AlertView, WHEN_VARIABLES};
pub use decode::{Decoded, Place, RecordDecoder, Undecodable};
pub use ids::{RuleId, StreamId};
pub use rule::{DEFAULT_WINDOW_MS, Rule, Slot, ValueSource};
pub use rule_set::RuleSet;
pub use stream::{DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_LATENESS_MS, Decoder, Stream};

pub use crate::duration::parse_duration_ms;

use compiler::Compiler;

use crate::config::{RuleErrors, SourceFile, parse_rule_file};
use crate::matcher::MatcherConfig;

/// Compiles rule files into one rule set.
pub fn compile(files: &[SourceFile]) -> Result<RuleSet, RuleErrors> {
    compile_with(files, &MatcherConfig::default())
}

/// [`compile`] under explicit matcher limits.
pub fn compile_with(files: &[SourceFile], matcher_config: &MatcherConfig) -> Result<RuleSet, RuleErrors> {
    let mut errors = Vec::new();
    let mut parsed = Vec::new();
    for file in files {
        match parse_rule_file(file) {
            Ok(config) => parsed.push((file, config)),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(RuleErrors(errors));
    }
    let mut compiler = Compiler { errors: Vec::new(), matcher_config: matcher_config.clone() };
    let set = compiler.compile(&parsed);
    if compiler.errors.is_empty() { Ok(set) } else { Err(RuleErrors(compiler.errors)) }
}

#[cfg(test)]
mod tests;
