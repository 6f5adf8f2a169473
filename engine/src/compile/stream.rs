//! Streams: what a `[[stream]]` compiles to ([`Stream`]), how its records become
//! events ([`Decoder`], [`Stream::decode_line`]), and its compilation.
//!
//! Invariants:
//! - a stream's [`Stream::field_names`] are fixed once its rules are compiled:
//!   `Event::fields[i]` is the field named `field_names[i]`, and a rule's
//!   [`Slot::Field`](super::Slot::Field) indexes it (JSON streams, whose schema is
//!   open, get the fields their rules name, in the order rules name them);
//! - all `match`/`regex` patterns of a stream are compiled into the stream's one
//!   [`MultiMatcher`]: pattern `i` of it belongs to rule `pattern_rules[i]`, and every
//!   rule of the stream is in exactly one of `pattern_rules` and
//!   `unconditional_rules`;
//! - a stream's settings are checked here (time, host, lateness, idle timeout, line
//!   limit), each problem reported at its own value.

use std::ops::Range;

use ingest::error::ConfigField;
use ingest::nginx::LogFormat;
use ingest::raw::{HostExtractor, RawDecoder, TimeExtractor};
use ingest::time::TimeParser;
use ingest::{DecodeError, Event, json::JsonDecoder};

use super::compiler::{Compiler, bad_regex};
use super::ids::RuleId;
use crate::config::{SourceFile, StreamConfig, StreamFormat};
use crate::matcher::{BuildError, MultiMatcher, PatternSpec};

/// Defaults that apply when a rule file is silent.
pub const DEFAULT_LATENESS_MS: i64 = 10_000;
pub const DEFAULT_IDLE_TIMEOUT_MS: i64 = 60_000;

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
    /// How far behind the newest event time windows stay open.
    pub lateness_ms: i64,
    /// How long a lane without events may hold back alerts over all lanes (the worker's).
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

/// A stream while its rules are being gathered.
pub(super) struct StreamDraft<'f> {
    pub(super) file: &'f SourceFile,
    pub(super) config: &'f StreamConfig,
    pub(super) field_names: Vec<String>,
    /// JSON streams have open schemas: fields are added as rules use them.
    pub(super) open_schema: bool,
}

/// A stream's rules once gathered, in rule-id order: what its matcher is built from.
#[derive(Default)]
pub(super) struct StreamRules<'f> {
    /// The patterns, in matcher order.
    pub(super) specs: Vec<PatternSpec>,
    /// Per pattern: where its rule wrote it, and the rule's name (for a build error).
    pub(super) spans: Vec<(&'f SourceFile, Range<usize>, String)>,
    /// Per pattern: the rule that owns it.
    pub(super) pattern_rules: Vec<RuleId>,
    /// The rules without a pattern.
    pub(super) unconditional: Vec<RuleId>,
    /// Every rule of the stream.
    pub(super) ids: Vec<RuleId>,
}

impl Compiler {
    /// A `[[stream]]` before its rules: its fields, checked against its format.
    pub(super) fn stream_draft<'f>(&mut self, file: &'f SourceFile, config: &'f StreamConfig) -> StreamDraft<'f> {
        let (field_names, open_schema) = self.stream_fields(file, config);
        StreamDraft { file, config, field_names, open_schema }
    }

    /// The compiled stream: its rules' patterns in one matcher, its decoder and settings.
    pub(super) fn stream(&mut self, draft: &StreamDraft, rules: StreamRules) -> Stream {
        let StreamRules { specs, spans, pattern_rules, unconditional, ids } = rules;
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
        Stream {
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
        }
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
                                ConfigField::TimeRegex => regex.span(),
                                ConfigField::TimeTz => tc.tz.as_ref().map_or(t.span(), |z| z.span()),
                                ConfigField::TimeYear => tc.year.as_ref().map_or(t.span(), |y| y.span()),
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
}
