//! Rules: what a `[[rule]]` compiles to ([`Rule`]), the [`Slot`]s its names resolve
//! to, where its value comes from ([`ValueSource`]), and the compilation of a rule of
//! its own (a builtin pack's rules are expanded in `packs`, from the same parts).
//!
//! Invariants:
//! - every name a rule uses (`group_by`, `filter`, `value`) is resolved here, by one
//!   [`Resolver`], to a [`Slot`]: the hot path never looks a name up;
//! - a name means, in this order: `host`, the rule's `value` (once it has one: a
//!   filter reads it, `group_by` refuses it), a capture group of its regex, a field of
//!   its stream; an unknown name is an error that lists the known ones, except in a
//!   JSON stream, where it adds a field;
//! - a rule's `definition` is a stable text of everything that changes what it counts,
//!   so a reload or a restore can tell a changed rule from an unchanged one.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use regex_automata::meta::Regex;
use toml::Spanned;

use super::compiler::{Compiler, bad_regex, name_ok};
use super::ids::StreamId;
use super::stream::StreamDraft;
use crate::config::{RuleConfig, SourceFile};
use crate::expr::{self, BoundExpr};
use crate::matcher::{self, PatternSpec};
use crate::window::WindowSpec;

/// The window of a rule that names none.
pub const DEFAULT_WINDOW_MS: i64 = 60_000;

/// Where a rule's name-based reference points, resolved at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Host,
    /// The rule's value (in filters).
    Value,
    /// `Event::fields[i]`.
    Field(usize),
    /// Capture group `i` of the rule's regex.
    Capture(usize),
}

/// Where a value rule's number comes from.
#[derive(Debug, Clone)]
pub enum ValueSource {
    Field(usize),
    Capture(usize),
    /// `{ after, before }` applied to the text of a rule that also has its own pattern.
    Between(Regex),
}

/// A compiled `[[rule]]` (a builtin pack compiles to several).
#[derive(Debug)]
pub struct Rule {
    pub name: String,
    pub stream: StreamId,
    pub window: WindowSpec,
    /// Index of the rule's pattern in its stream's matcher.
    pub pattern: Option<usize>,
    pub count_repeats: bool,
    /// Group-by parts other than `host`, with their names, in `group_by` order.
    pub key_parts: Vec<(String, Slot)>,
    /// Whether `host` is part of the group key (else the host column is empty).
    pub host_in_key: bool,
    pub value: Option<ValueSource>,
    /// What the value is, for people (a chart's axis): the field or capture name, or
    /// `after…before` for a number between two strings; `None` for counting rules.
    pub value_label: Option<String>,
    pub filter: Option<BoundExpr>,
    /// Slot of each filter variable, by the filter's own slot number.
    pub filter_slots: Vec<Slot>,
    /// The rule needs the capture groups of its regex (key, value or filter use them).
    pub needs_captures: bool,
    /// A stable text of the rule's definition, so a reload can tell changed rules.
    pub definition: String,
}

impl Rule {
    pub fn has_value(&self) -> bool {
        self.value.is_some()
    }
}

/// A rule (or one rule of a builtin pack) before its stream's matcher exists.
pub(super) struct RuleDraft<'f> {
    pub(super) file: &'f SourceFile,
    pub(super) name: String,
    pub(super) pattern: Option<(PatternSpec, Range<usize>)>,
    pub(super) rule: Rule,
}

impl Compiler {
    /// Where a rule counts: its stream and its windows; `None` when the stream is
    /// unknown. Checks the rule's name on the way.
    pub(super) fn rule_target(
        &mut self,
        file: &SourceFile,
        rule: &RuleConfig,
        stream_ids: &HashMap<String, StreamId>,
    ) -> Option<(StreamId, WindowSpec)> {
        let name = rule.name.get_ref();
        if !name_ok(name) {
            self.err(file, rule.name.span(), format!("rule name '{name}' must be [a-z0-9_]+"));
        }
        let Some(&stream_id) = stream_ids.get(rule.stream.get_ref()) else {
            let mut known: Vec<&String> = stream_ids.keys().collect();
            known.sort();
            self.err(
                file,
                rule.stream.span(),
                format!("rule '{name}': unknown stream '{}' (streams: {})", rule.stream.get_ref(), join(&known)),
            );
            return None;
        };
        let width = self.duration_or(file, &rule.window, DEFAULT_WINDOW_MS, false);
        let slide = match &rule.slide {
            None => width,
            Some(s) => {
                let slide = self.duration_or(file, &rule.slide, width, false);
                if slide > width {
                    self.err(
                        file,
                        s.span(),
                        format!(
                            "rule '{name}': slide ({}) is greater than window ({})",
                            s.get_ref(),
                            rule.window.as_ref().map_or("1m", |w| w.get_ref().as_str())
                        ),
                    );
                }
                slide
            }
        };
        let window = WindowSpec { width_ms: width, slide_ms: slide.min(width).max(1) };
        Some((stream_id, window))
    }

    /// A rule of its own (not a builtin pack) on `stream`, grouped by `default_group`
    /// when its `group_by` is silent; `None` when its regex does not parse.
    pub(super) fn rule_draft<'f>(
        &mut self,
        file: &'f SourceFile,
        rule: &'f RuleConfig,
        stream_id: StreamId,
        window: WindowSpec,
        stream: &mut StreamDraft,
        default_group: &[String],
    ) -> Option<RuleDraft<'f>> {
        let name = rule.name.get_ref();

        if rule.match_text.is_some() && rule.regex.is_some() {
            let span = rule.regex.as_ref().map(|r| r.span()).unwrap_or(rule.name.span());
            self.err(file, span, format!("rule '{name}': use either match or regex, not both"));
        }
        let mut pattern = match (&rule.match_text, &rule.regex) {
            (Some(m), _) if m.get_ref().is_empty() => {
                self.err(file, m.span(), format!("rule '{name}': match must not be empty"));
                None
            }
            (Some(m), _) => Some((PatternSpec::Literal(m.get_ref().clone()), m.span())),
            (None, Some(r)) => Some((PatternSpec::Regex(r.get_ref().clone()), r.span())),
            (None, None) => None,
        };

        // value: a field name, or { after, before }.
        let mut value_between: Option<(String, Range<usize>)> = None;
        let mut value_field: Option<Spanned<String>> = None;
        if let Some(v) = &rule.value {
            match v.get_ref() {
                toml::Value::String(s) => value_field = Some(Spanned::new(v.span(), s.clone())),
                toml::Value::Table(t) => {
                    let after = t.get("after").and_then(|x| x.as_str());
                    let before = t.get("before").and_then(|x| x.as_str());
                    let unknown: Vec<&String> = t.keys().filter(|k| *k != "after" && *k != "before").collect();
                    match (after, before) {
                        (Some(a), Some(b)) if unknown.is_empty() && !a.is_empty() => {
                            let re = format!(
                                r"{}(?P<value>-?\d+(?:\.\d+)?){}",
                                regex_syntax::escape(a),
                                regex_syntax::escape(b)
                            );
                            value_between = Some((re, v.span()));
                        }
                        _ => self.err(
                            file,
                            v.span(),
                            format!("rule '{name}': value must be a field name or {{ after = \"...\", before = \"...\" }} with a non-empty `after`"),
                        ),
                    }
                }
                _ => self.err(
                    file,
                    v.span(),
                    format!("rule '{name}': value must be a field name or {{ after, before }}"),
                ),
            }
        }
        // A rule whose only pattern is its value becomes a regex rule with a `value` capture.
        let mut value_is_capture = false;
        if pattern.is_none()
            && let Some((re, span)) = value_between.take()
        {
            pattern = Some((PatternSpec::Regex(re), span));
            value_is_capture = true;
        }

        if let Some(c) = &rule.count_repeats
            && *c.get_ref()
            && pattern.is_none()
        {
            self.err(file, c.span(), format!("rule '{name}': count_repeats needs match or regex"));
        }

        // Parsing is enough to know the capture names; the stream's matcher compiles the regex.
        let capture_names = match &pattern {
            Some((PatternSpec::Regex(re), span)) => match matcher::parse_hir(re, &self.matcher_config) {
                Ok(hir) => matcher::capture_names(&hir),
                Err((message, offset)) => {
                    self.errors.push(bad_regex(file, span.clone(), offset, name, &message));
                    return None;
                }
            },
            _ => Vec::new(),
        };

        let mut resolver = Resolver { stream: &mut *stream, captures: &capture_names, has_value: false };

        let value = if value_is_capture {
            capture_names.iter().find(|(n, _)| n == "value").map(|(_, i)| ValueSource::Capture(*i))
        } else if let Some(f) = &value_field {
            match resolver.resolve(f.get_ref()) {
                Some(Slot::Field(i)) => Some(ValueSource::Field(i)),
                Some(Slot::Capture(i)) => Some(ValueSource::Capture(i)),
                _ => {
                    self.err(
                        file,
                        f.span(),
                        format!(
                            "rule '{name}': value '{}' is not a field or capture {}",
                            f.get_ref(),
                            resolver.known()
                        ),
                    );
                    None
                }
            }
        } else if let Some((re, span)) = &value_between {
            match matcher::compile_regex(re, &self.matcher_config) {
                Ok(r) => Some(ValueSource::Between(r)),
                Err((m, _)) => {
                    self.err(file, span.clone(), format!("rule '{name}': value: {m}"));
                    None
                }
            }
        } else {
            None
        };

        let mut resolver = Resolver { stream, captures: &capture_names, has_value: value.is_some() };
        let (key_parts, host_in_key) = self.group_by(file, name, rule, default_group, &mut resolver);
        let (filter, filter_slots) = self.filter(file, name, rule.filter.as_ref(), &mut resolver);

        let needs_captures = key_parts.iter().any(|(_, s)| matches!(s, Slot::Capture(_)))
            || filter_slots.iter().any(|s| matches!(s, Slot::Capture(_)))
            || matches!(value, Some(ValueSource::Capture(_)));
        let definition = format!(
            "stream={} pattern={:?} window={:?} count_repeats={} group_by={:?} value={:?} filter={:?}",
            rule.stream.get_ref(),
            pattern.as_ref().map(|p| &p.0),
            window,
            rule.count_repeats.as_ref().is_some_and(|c| *c.get_ref()),
            key_parts.iter().map(|k| &k.0).collect::<Vec<_>>(),
            rule.value.as_ref().map(|v| v.get_ref().to_string()),
            rule.filter.as_ref().map(|f| f.get_ref()),
        );
        Some(RuleDraft {
            file,
            name: name.clone(),
            pattern,
            rule: Rule {
                name: name.clone(),
                stream: stream_id,
                window,
                pattern: None,
                count_repeats: rule.count_repeats.as_ref().is_some_and(|c| *c.get_ref()),
                key_parts,
                host_in_key,
                value_label: match (&value, &rule.value) {
                    (None, _) => None,
                    (Some(_), Some(v)) => Some(value_label(v.get_ref())),
                    (Some(_), None) => Some("value".to_string()),
                },
                value,
                filter,
                filter_slots,
                needs_captures,
                definition,
            },
        })
    }

    pub(super) fn group_by(
        &mut self,
        file: &SourceFile,
        name: &str,
        rule: &RuleConfig,
        default: &[String],
        resolver: &mut Resolver,
    ) -> (Vec<(String, Slot)>, bool) {
        let mut parts = Vec::new();
        let mut host_in_key = false;
        let items: Vec<(String, Range<usize>)> = match &rule.group_by {
            Some(g) => g.get_ref().iter().map(|s| (s.get_ref().clone(), s.span())).collect(),
            None => default.iter().map(|s| (s.clone(), rule.name.span())).collect(),
        };
        let mut seen = HashSet::new();
        for (field, span) in items {
            if !seen.insert(field.clone()) {
                self.err(file, span.clone(), format!("rule '{name}': group_by names '{field}' twice"));
                continue;
            }
            match resolver.resolve(&field) {
                Some(Slot::Host) => host_in_key = true,
                Some(Slot::Value) => self.err(file, span, format!("rule '{name}': cannot group by the value")),
                Some(slot) => parts.push((field, slot)),
                None => self.err(
                    file,
                    span,
                    format!("rule '{name}': group_by '{field}' is not a field or capture {}", resolver.known()),
                ),
            }
        }
        (parts, host_in_key)
    }

    fn filter(
        &mut self,
        file: &SourceFile,
        name: &str,
        filter: Option<&Spanned<String>>,
        resolver: &mut Resolver,
    ) -> (Option<BoundExpr>, Vec<Slot>) {
        let Some(filter) = filter else { return (None, Vec::new()) };
        let parsed = match expr::parse(filter.get_ref()) {
            Ok(p) => p,
            Err(e) => {
                self.errors.push(file.error_inside_string(
                    filter.span(),
                    e.offset,
                    format!("rule '{name}': filter: {}", e.message),
                ));
                return (None, Vec::new());
            }
        };
        let mut slots = Vec::new();
        let mut slot_of: HashMap<String, usize> = HashMap::new();
        let bound = parsed.bind(|ident| {
            if let Some(&i) = slot_of.get(ident) {
                return Some(i);
            }
            let slot = resolver.resolve(ident)?;
            slots.push(slot);
            slot_of.insert(ident.to_string(), slots.len() - 1);
            Some(slots.len() - 1)
        });
        match bound {
            Ok(b) => (Some(b), slots),
            Err(e) => {
                let known = resolver.known();
                self.errors.push(file.error_inside_string(
                    filter.span(),
                    e.offset,
                    format!("rule '{name}': filter: {} {known}", e.message),
                ));
                (None, Vec::new())
            }
        }
    }
}

/// A rule's `value` as people read it: `request_time`, or `cost=…ms`.
fn value_label(value: &toml::Value) -> String {
    match value {
        toml::Value::String(name) => name.clone(),
        toml::Value::Table(t) => {
            let part = |k: &str| t.get(k).and_then(toml::Value::as_str).unwrap_or_default();
            format!("{}…{}", part("after"), part("before"))
        }
        other => other.to_string(),
    }
}

/// Resolves names used by one rule.
pub(super) struct Resolver<'a, 'f> {
    pub(super) stream: &'a mut StreamDraft<'f>,
    pub(super) captures: &'a [(String, usize)],
    pub(super) has_value: bool,
}

impl Resolver<'_, '_> {
    fn resolve(&mut self, name: &str) -> Option<Slot> {
        if name == "host" {
            return Some(Slot::Host);
        }
        if name == "value" && self.has_value {
            return Some(Slot::Value);
        }
        if let Some((_, i)) = self.captures.iter().find(|(n, _)| n == name) {
            return Some(Slot::Capture(*i));
        }
        if let Some(i) = self.stream.field_names.iter().position(|f| f == name) {
            return Some(Slot::Field(i));
        }
        if self.stream.open_schema {
            self.stream.field_names.push(name.to_string());
            return Some(Slot::Field(self.stream.field_names.len() - 1));
        }
        None
    }

    /// "(known: a, b, c)" for error messages.
    fn known(&self) -> String {
        let mut names: Vec<&str> = vec!["host"];
        if self.has_value {
            names.push("value");
        }
        names.extend(self.captures.iter().map(|(n, _)| n.as_str()));
        names.extend(self.stream.field_names.iter().map(String::as_str));
        format!("(known: {})", names.join(", "))
    }
}

/// Names for an error message, `a, b, c`.
fn join(names: &[&String]) -> String {
    if names.is_empty() {
        "none defined".to_string()
    } else {
        names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    }
}
