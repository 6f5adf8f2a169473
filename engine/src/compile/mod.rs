//! Rule set compilation: rule files in, a [`RuleSet`] out.
//!
//! Invariants:
//! - a rule set is all or nothing: every problem of every file is collected
//!   as a [`RuleError`] at its `path:line:col`, and any error refuses the set;
//! - every name a rule uses (group_by, filter, value) is resolved here to a
//!   [`Slot`], so the hot path never looks a name up;
//! - all `match`/`regex` patterns of a stream are compiled into that stream's
//!   one [`MultiMatcher`]; pattern `i` of the matcher belongs to
//!   `stream.pattern_rules[i]`.

mod alert;

pub use crate::duration::parse_duration_ms;
pub use alert::{AlertKind, AlertSpec, AlertView, WHEN_VARIABLES};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use ingest::nginx::LogFormat;
use ingest::raw::{ConfigError, HostExtractor, RawDecoder, TimeExtractor, TimeParser};
use ingest::{DecodeError, Event, json::JsonDecoder};
use regex_automata::meta::Regex;
use toml::Spanned;

use crate::config::{RuleConfig, RuleError, RuleErrors, SourceFile, StreamConfig, StreamFormat, parse_rule_file};
use crate::expr::{self, BoundExpr};
use crate::matcher::{self, BuildError, MatcherConfig, MultiMatcher, PatternSpec};
use crate::window::WindowSpec;

/// Defaults that apply when a rule file is silent.
pub const DEFAULT_WINDOW_MS: i64 = 60_000;
pub const DEFAULT_LATENESS_MS: i64 = 10_000;
pub const DEFAULT_IDLE_TIMEOUT_MS: i64 = 60_000;

/// Index of a stream in [`RuleSet::streams`].
pub type StreamId = usize;
/// Index of a rule in [`RuleSet::rules`].
pub type RuleId = usize;

/// Everything a rule set compiles to.
#[derive(Debug)]
pub struct RuleSet {
    pub streams: Vec<Stream>,
    pub rules: Vec<Rule>,
    pub alerts: Vec<AlertSpec>,
}

/// How a stream's records become events.
#[derive(Debug)]
pub enum Decoder {
    Raw(RawDecoder),
    Nginx(LogFormat),
    Json(JsonDecoder),
    /// Qalarm events are binary: callers use `ingest::qalarm` directly.
    Qalarm,
}

/// A compiled `[[stream]]`.
#[derive(Debug)]
pub struct Stream {
    pub name: String,
    pub format: StreamFormat,
    pub decoder: Decoder,
    /// Host override for structured formats (raw lines handle theirs in the decoder).
    pub host_regex: Option<HostExtractor>,
    /// Fixed host name from the stream definition.
    pub fixed_host: Option<String>,
    pub lateness_ms: i64,
    pub idle_timeout_ms: i64,
    pub max_line_bytes: usize,
    /// Names of `Event::fields`, by index.
    pub field_names: Vec<String>,
    /// Every pattern of the stream's rules, searched in one pass.
    pub matcher: MultiMatcher,
    /// Matcher pattern index -> the rule that owns it.
    pub pattern_rules: Vec<RuleId>,
    /// Rules without a pattern (rolling counts, filter-only, field values): they see every event.
    pub unconditional_rules: Vec<RuleId>,
    /// Every rule of the stream.
    pub rules: Vec<RuleId>,
}

impl Stream {
    /// Decodes one text line of this stream (every format but Qalarm). `received_ms` is
    /// when the line arrived (Kafka timestamp, read time): a year-less time takes its
    /// year from it ([`TimeParser::parse`]).
    pub fn decode_line<'a>(&self, line: &'a str, received_ms: i64) -> Result<Event<'a>, DecodeError> {
        let mut event = match &self.decoder {
            Decoder::Raw(d) => d.decode(line, received_ms)?,
            Decoder::Nginx(f) => f.parse(line)?,
            Decoder::Json(d) => d.decode(line, received_ms)?,
            Decoder::Qalarm => {
                return Err(DecodeError::new(
                    ingest::ErrorReason::Decode,
                    "qalarm streams take MessagePack, not lines",
                ));
            }
        };
        if let Some(h) = &self.host_regex {
            event.host = h.extract(line).map(std::borrow::Cow::Borrowed);
        }
        Ok(event)
    }
}

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

/// Compiles rule files into one rule set.
pub fn compile(files: &[SourceFile]) -> Result<RuleSet, RuleErrors> {
    compile_with(files, &MatcherConfig::default())
}

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

struct Compiler {
    errors: Vec<RuleError>,
    matcher_config: MatcherConfig,
}

/// A stream while its rules are being gathered.
struct StreamDraft<'f> {
    file: &'f SourceFile,
    config: &'f StreamConfig,
    field_names: Vec<String>,
    /// JSON streams have open schemas: fields are added as rules use them.
    open_schema: bool,
}

/// A rule (or one rule of a builtin pack) before its stream's matcher exists.
struct RuleDraft<'f> {
    file: &'f SourceFile,
    name: String,
    pattern: Option<(PatternSpec, Range<usize>)>,
    rule: Rule,
}

fn name_ok(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Compiler {
    fn err(&mut self, file: &SourceFile, span: Range<usize>, message: impl Into<String>) {
        self.errors.push(file.error_in(span, message));
    }

    fn compile(&mut self, files: &[(&SourceFile, crate::config::RuleFileConfig)]) -> RuleSet {
        // Streams first: rules in any file may refer to streams of any file.
        let mut drafts: Vec<StreamDraft> = Vec::new();
        let mut stream_ids: HashMap<String, StreamId> = HashMap::new();
        for (file, config) in files {
            for stream in &config.stream {
                let name = stream.name.get_ref();
                if name.is_empty()
                    || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
                {
                    self.err(file, stream.name.span(), format!("stream name '{name}' must be [A-Za-z0-9_.-]+"));
                }
                if stream_ids.contains_key(name) {
                    self.err(file, stream.name.span(), format!("duplicate stream name '{name}'"));
                    continue;
                }
                stream_ids.insert(name.clone(), drafts.len());
                let (field_names, open_schema) = self.stream_fields(file, stream);
                drafts.push(StreamDraft { file, config: stream, field_names, open_schema });
            }
        }

        let mut rule_drafts: Vec<RuleDraft> = Vec::new();
        let mut rule_names: HashSet<String> = HashSet::new();
        for (file, config) in files {
            for rule in &config.rule {
                for draft in self.rule_drafts(file, rule, &stream_ids, &mut drafts) {
                    if !rule_names.insert(draft.name.clone()) {
                        self.err(file, rule.name.span(), format!("duplicate rule name '{}'", draft.name));
                        continue;
                    }
                    rule_drafts.push(draft);
                }
            }
        }

        // Streams with their matchers, rules in stream order.
        let mut streams = Vec::new();
        let mut rules: Vec<Rule> = Vec::new();
        let mut by_stream: BTreeMap<StreamId, Vec<RuleDraft>> = BTreeMap::new();
        for draft in rule_drafts {
            by_stream.entry(draft.rule.stream).or_default().push(draft);
        }
        for (stream_id, draft) in drafts.iter().enumerate() {
            let stream_rules = by_stream.remove(&stream_id).unwrap_or_default();
            let mut specs = Vec::new();
            let mut spans = Vec::new();
            let mut pattern_rules = Vec::new();
            let mut unconditional = Vec::new();
            let mut ids = Vec::new();
            for mut rd in stream_rules {
                let id = rules.len();
                ids.push(id);
                if let Some((spec, span)) = rd.pattern.take() {
                    rd.rule.pattern = Some(specs.len());
                    specs.push(spec);
                    spans.push((rd.file, span, rd.name.clone()));
                    pattern_rules.push(id);
                } else {
                    unconditional.push(id);
                }
                rules.push(rd.rule);
            }
            let matcher = match MultiMatcher::new(&specs, &self.matcher_config) {
                Ok(m) => m,
                Err(BuildError { pattern, message, offset }) => {
                    let (file, span, name) = &spans[pattern.min(spans.len().saturating_sub(1))];
                    self.errors.push(bad_regex(file, span.clone(), offset, name, &message));
                    MultiMatcher::new(&[], &self.matcher_config).expect("empty matcher")
                }
            };
            let decoder = self.decoder(draft);
            let stream_config = draft.config;
            let file = draft.file;
            let lateness_ms = self.duration_or(file, &stream_config.lateness, DEFAULT_LATENESS_MS, true);
            let idle_timeout_ms = self.duration_or(file, &stream_config.idle_timeout, DEFAULT_IDLE_TIMEOUT_MS, false);
            let max_line_bytes = match &stream_config.max_line_bytes {
                Some(v) if *v.get_ref() == 0 => {
                    self.err(file, v.span(), "max_line_bytes must be greater than zero");
                    0
                }
                Some(v) => *v.get_ref() as usize,
                None => ingest::lines::DEFAULT_MAX_LINE_BYTES,
            };
            let (host_regex, fixed_host) = self.host_setting(draft);
            streams.push(Stream {
                name: stream_config.name.get_ref().clone(),
                format: stream_config.format(),
                decoder,
                host_regex,
                fixed_host,
                lateness_ms,
                idle_timeout_ms,
                max_line_bytes,
                field_names: draft.field_names.clone(),
                matcher,
                pattern_rules,
                unconditional_rules: unconditional,
                rules: ids,
            });
        }

        let mut alerts = Vec::new();
        let mut alert_names = HashSet::new();
        let rule_index: HashMap<&str, RuleId> = rules.iter().enumerate().map(|(i, r)| (r.name.as_str(), i)).collect();
        for (file, config) in files {
            for alert in &config.alert {
                let name = alert.name.get_ref();
                if !name_ok(name) {
                    self.err(file, alert.name.span(), format!("alert name '{name}' must be [a-z0-9_]+"));
                }
                if !alert_names.insert(name.clone()) {
                    self.err(file, alert.name.span(), format!("duplicate alert name '{name}'"));
                    continue;
                }
                if let Some(spec) = alert::compile_alert(self, file, alert, &rule_index, &rules) {
                    alerts.push(spec);
                }
            }
        }
        RuleSet { streams, rules, alerts }
    }

    /// The fields a stream's events carry, and whether rules may add more.
    fn stream_fields(&mut self, file: &SourceFile, stream: &StreamConfig) -> (Vec<String>, bool) {
        let format = stream.format();
        if format != StreamFormat::Nginx
            && let Some(lf) = &stream.log_format
        {
            self.err(file, lf.span(), format!("log_format is only for nginx streams, not {}", format.as_str()));
        }
        match format {
            StreamFormat::Raw => (Vec::new(), false),
            StreamFormat::Qalarm => (ingest::qalarm::FIELDS.iter().map(|s| s.to_string()).collect(), false),
            StreamFormat::Json => (Vec::new(), true),
            StreamFormat::Nginx => match &stream.log_format {
                None => {
                    self.err(file, stream.name.span(), "nginx streams need a log_format");
                    (Vec::new(), false)
                }
                Some(lf) => match LogFormat::compile(lf.get_ref()) {
                    Ok(f) => (f.field_names().to_vec(), false),
                    Err(e) => {
                        self.errors.push(file.error_inside_string(
                            lf.span(),
                            e.offset,
                            format!("bad log_format: {}", e.message),
                        ));
                        (Vec::new(), false)
                    }
                },
            },
        }
    }

    fn config_error(&mut self, file: &SourceFile, span: Range<usize>, e: ConfigError) {
        self.err(file, span, format!("{}: {}", e.field, e.message));
    }

    fn decoder(&mut self, draft: &StreamDraft) -> Decoder {
        let (file, stream) = (draft.file, draft.config);
        let format = stream.format();
        let time = stream.time.as_ref();
        match format {
            StreamFormat::Raw => {
                let time_extractor = time.and_then(|t| {
                    let tc = t.get_ref();
                    if let Some(f) = &tc.field {
                        self.err(file, f.span(), "time.field is for json streams; raw streams use time.regex");
                        return None;
                    }
                    let Some(regex) = &tc.regex else {
                        self.err(file, t.span(), "raw streams need time.regex (a regex with one capture)");
                        return None;
                    };
                    let year = tc.year.as_ref().map(|y| *y.get_ref());
                    let tz = tc.tz.as_ref().map(|z| z.get_ref().as_str());
                    match TimeExtractor::new(regex.get_ref(), tc.format.get_ref(), year, tz) {
                        Ok(x) => Some(x),
                        Err(e) => {
                            let span = match e.field {
                                "time.regex" => regex.span(),
                                "time.tz" => tc.tz.as_ref().map_or(t.span(), |z| z.span()),
                                "time.year" => tc.year.as_ref().map_or(t.span(), |y| y.span()),
                                _ => tc.format.span(),
                            };
                            self.config_error(file, span, e);
                            None
                        }
                    }
                });
                Decoder::Raw(RawDecoder::new(time_extractor, None))
            }
            StreamFormat::Nginx | StreamFormat::Qalarm => {
                if let Some(t) = time {
                    self.err(
                        file,
                        t.span(),
                        format!("{} streams take their event time from the record; remove `time`", format.as_str()),
                    );
                }
                if format == StreamFormat::Qalarm {
                    Decoder::Qalarm
                } else {
                    match stream.log_format.as_ref().map(|lf| LogFormat::compile(lf.get_ref())) {
                        Some(Ok(f)) => Decoder::Nginx(f),
                        _ => Decoder::Raw(RawDecoder::new(None, None)), // error already reported
                    }
                }
            }
            StreamFormat::Json => {
                let time_field = time.and_then(|t| {
                    let tc = t.get_ref();
                    if let Some(r) = &tc.regex {
                        self.err(file, r.span(), "time.regex is for raw streams; json streams use time.field");
                        return None;
                    }
                    let Some(field) = &tc.field else {
                        self.err(file, t.span(), "json streams need time.field");
                        return None;
                    };
                    let year = tc.year.as_ref().map(|y| *y.get_ref());
                    let tz = tc.tz.as_ref().map(|z| z.get_ref().as_str());
                    match TimeParser::new(tc.format.get_ref(), year, tz) {
                        Ok(p) => Some((field.get_ref().clone(), p)),
                        Err(e) => {
                            self.config_error(file, tc.format.span(), e);
                            None
                        }
                    }
                });
                Decoder::Json(JsonDecoder::new(draft.field_names.clone(), time_field))
            }
        }
    }

    fn host_setting(&mut self, draft: &StreamDraft) -> (Option<HostExtractor>, Option<String>) {
        let (file, stream) = (draft.file, draft.config);
        let Some(host) = &stream.host else { return (None, None) };
        if stream.format() == StreamFormat::Qalarm {
            self.err(file, host.span(), "qalarm streams take the host from server_ip; remove `host`");
            return (None, None);
        }
        match host.get_ref() {
            toml::Value::String(s) if !s.is_empty() => (None, Some(s.clone())),
            toml::Value::Table(t) if t.len() == 1 && t.get("regex").is_some_and(|v| v.is_str()) => {
                let regex = t["regex"].as_str().unwrap_or_default();
                match HostExtractor::new(regex) {
                    Ok(h) => (Some(h), None),
                    Err(e) => {
                        self.config_error(file, host.span(), e);
                        (None, None)
                    }
                }
            }
            _ => {
                self.err(file, host.span(), "host must be a name (host = \"web-1\") or { regex = '...' }");
                (None, None)
            }
        }
    }

    fn duration_or(
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

    /// One rule as written -> one or more drafts (builtin packs expand).
    fn rule_drafts<'f>(
        &mut self,
        file: &'f SourceFile,
        rule: &'f RuleConfig,
        stream_ids: &HashMap<String, StreamId>,
        streams: &mut [StreamDraft],
    ) -> Vec<RuleDraft<'f>> {
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
            return Vec::new();
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

        if let Some(builtin) = &rule.builtin {
            return self.builtin_drafts(file, rule, builtin, stream_id, window, &mut streams[stream_id]);
        }

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
                    return Vec::new();
                }
            },
            _ => Vec::new(),
        };

        let stream = &mut streams[stream_id];
        let mut resolver = Resolver { stream, captures: &capture_names, has_value: false };

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

        let default_group: Vec<String> = if streams[stream_id].config.format() == StreamFormat::Qalarm {
            ["project", "module", "code", "env"].iter().map(|s| s.to_string()).collect()
        } else {
            vec!["host".to_string()]
        };
        let stream = &mut streams[stream_id];
        let mut resolver = Resolver { stream, captures: &capture_names, has_value: value.is_some() };
        let (key_parts, host_in_key) = self.group_by(file, name, rule, &default_group, &mut resolver);
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
        vec![RuleDraft {
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
        }]
    }

    fn group_by(
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

    fn builtin_drafts<'f>(
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
struct Resolver<'a, 'f> {
    stream: &'a mut StreamDraft<'f>,
    captures: &'a [(String, usize)],
    has_value: bool,
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

/// A rule's regex that does not parse or build, at the character when known.
fn bad_regex(file: &SourceFile, span: Range<usize>, offset: Option<usize>, rule: &str, message: &str) -> RuleError {
    let message = format!("rule '{rule}': bad regex: {message}");
    match offset {
        Some(o) => file.error_inside_string(span, o, message),
        None => file.error_in(span, message),
    }
}

fn join(names: &[&String]) -> String {
    if names.is_empty() {
        "none defined".to_string()
    } else {
        names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests;
