//! Builtin packs: what a stream format brings without a rule spelling it out.
//!
//! - `builtin = "nginx"`: one `[[rule]]` on an nginx stream expands to five rules,
//!   `<name>.requests`, `.request_time`, `.status_499`, `.status_5xx` and
//!   `.upstream_time`, each grouped like the rule says (by host when it is silent);
//!   a metric whose field the stream's `log_format` lacks is left out
//!   (`logpulse check` shows which);
//! - Qalarm: a rule on a qalarm stream whose `group_by` is silent is keyed by
//!   where the alarm comes from in the application (`project`, `module`, `code`,
//!   `env`), not by host. (A Qalarm stream's fields and decoder are the stream's:
//!   see `stream`.)
//!
//! Invariants: a pack's rules are ordinary [`Rule`]s, resolved by the same
//! [`Resolver`] as a rule of one's own, so nothing after compilation knows packs; a
//! rule of one's own cannot pass for a pack's rule (`<name>.<metric>`): a rule name
//! has no dot.

use toml::Spanned;

use super::compiler::Compiler;
use super::ids::StreamId;
use super::rule::{Resolver, Rule, RuleDraft, Slot, ValueSource};
use super::stream::StreamDraft;
use crate::config::{RuleConfig, SourceFile, StreamFormat};
use crate::expr;
use crate::window::WindowSpec;

/// The group key of a rule on a stream of `format` whose `group_by` is silent.
pub(super) fn default_group_by(format: StreamFormat) -> Vec<String> {
    if format == StreamFormat::Qalarm {
        ["project", "module", "code", "env"].iter().map(|s| s.to_string()).collect()
    } else {
        vec!["host".to_string()]
    }
}

impl Compiler {
    /// The rules of builtin pack `builtin`, written as the rule `rule` on `stream`.
    pub(super) fn builtin_drafts<'f>(
        &mut self,
        file: &'f SourceFile,
        rule: &'f RuleConfig,
        builtin: &Spanned<String>,
        stream_id: StreamId,
        window: WindowSpec,
        stream: &mut StreamDraft,
    ) -> Vec<RuleDraft<'f>> {
        let name = rule.name.get_ref();
        if builtin.get_ref() != "nginx" {
            self.err(
                file,
                builtin.span(),
                format!("rule '{name}': unknown builtin '{}' (builtins: nginx)", builtin.get_ref()),
            );
            return Vec::new();
        }
        if stream.config.format() != StreamFormat::Nginx {
            self.err(
                file,
                builtin.span(),
                format!("rule '{name}': builtin 'nginx' needs a stream with format = \"nginx\""),
            );
            return Vec::new();
        }
        for (present, what) in [
            (rule.match_text.is_some(), "match"),
            (rule.regex.is_some(), "regex"),
            (rule.value.is_some(), "value"),
            (rule.filter.is_some(), "filter"),
            (rule.count_repeats.is_some(), "count_repeats"),
        ] {
            if present {
                self.err(file, builtin.span(), format!("rule '{name}': a builtin pack takes no `{what}`"));
                return Vec::new();
            }
        }
        let fields = stream.field_names.clone();
        let field = |n: &str| fields.iter().position(|f| f == n);
        let status = field("status");
        // (metric, value field, filter on status)
        type Metric<'a> = (&'a str, Option<&'a str>, Option<(f64, f64)>);
        let metrics: [Metric; 5] = [
            ("requests", None, None),
            ("request_time", Some("request_time"), None),
            ("status_499", None, Some((499.0, 499.0))),
            ("status_5xx", None, Some((500.0, 599.0))),
            ("upstream_time", Some("upstream_response_time"), None),
        ];
        let mut resolver = Resolver { stream, captures: &[], has_value: false };
        let default_group = vec!["host".to_string()];
        let (key_parts, host_in_key) = self.group_by(file, name, rule, &default_group, &mut resolver);
        let mut out = Vec::new();
        for (metric, value_field, status_range) in metrics {
            let value = match value_field {
                Some(f) => match field(f) {
                    Some(i) => Some(ValueSource::Field(i)),
                    None => continue, // the log_format lacks it: the metric is left out (`check` shows which)
                },
                None => None,
            };
            let (filter, filter_slots) = match status_range {
                None => (None, Vec::new()),
                Some((lo, hi)) => {
                    let Some(status_index) = status else { continue };
                    let text = format!("status >= {lo} and status <= {hi}");
                    let bound = expr::parse(&text).and_then(|e| e.bind(|_| Some(0))).expect("builtin filter");
                    (Some(bound), vec![Slot::Field(status_index)])
                }
            };
            let full = format!("{name}.{metric}");
            out.push(RuleDraft {
                file,
                name: full.clone(),
                pattern: None,
                rule: Rule {
                    name: full,
                    stream: stream_id,
                    window,
                    pattern: None,
                    count_repeats: false,
                    key_parts: key_parts.clone(),
                    host_in_key,
                    value_label: value_field.filter(|_| value.is_some()).map(str::to_string),
                    value,
                    filter,
                    filter_slots,
                    needs_captures: false,
                    definition: format!(
                        "builtin=nginx metric={metric} window={window:?} group_by={:?}",
                        key_parts.iter().map(|k| &k.0).collect::<Vec<_>>()
                    ),
                },
            });
        }
        out
    }
}
