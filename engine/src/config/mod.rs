//! The rule file model: `[[stream]]`, `[[rule]]` and `[[alert]]` tables as the
//! user writes them (DESIGN.md, "Streams and rules").
//!
//! Invariants:
//! - every struct is `deny_unknown_fields`, so a misspelt key is an error at its
//!   position, never a silently ignored setting;
//! - every value that is checked after deserialisation (names, regexes,
//!   durations, expressions) is kept [`Spanned`], so that a semantic error
//!   points at the exact `line:col` of the offending value;
//! - nothing here compiles anything: see [`crate::compile`].

mod error;

pub use error::{RuleError, RuleErrors, SourceFile};

use serde::Deserialize;
use toml::Spanned;

/// One rule file as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RuleFileConfig {
    /// How to read lines, by stream name.
    #[serde(default)]
    pub stream: Vec<StreamConfig>,
    /// What to count, per stream.
    #[serde(default)]
    pub rule: Vec<RuleConfig>,
    /// When to notify, per rule or by SQL.
    #[serde(default)]
    pub alert: Vec<AlertConfig>,
}

/// The formats a stream can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StreamFormat {
    /// Plain text lines; time and host from regexes.
    #[default]
    Raw,
    /// nginx access logs in the stream's `log_format`.
    Nginx,
    /// Qalarm events as MessagePack.
    Qalarm,
    /// One JSON object per line.
    Json,
}

impl StreamFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamFormat::Raw => "raw",
            StreamFormat::Nginx => "nginx",
            StreamFormat::Qalarm => "qalarm",
            StreamFormat::Json => "json",
        }
    }
}

/// `[[stream]]`: how to turn input records into events.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// The name sources and rules refer to.
    pub name: Spanned<String>,
    /// The input format; default `raw`.
    pub format: Option<Spanned<StreamFormat>>,
    /// Where the event time comes from; without it, the transport's time.
    pub time: Option<Spanned<TimeConfig>>,
    /// `host = "web-1"` or `host = { regex = '...' }`; default: the source's host.
    pub host: Option<Spanned<toml::Value>>,
    /// Allowed lateness behind the stream's newest event time; default 10s.
    pub lateness: Option<Spanned<String>>,
    /// How long a lane of the stream (a Kafka partition, a file) that has delivered no
    /// event yet may hold back the worker's alert evaluation over all lanes; default 1m.
    pub idle_timeout: Option<Spanned<String>>,
    /// nginx's own `log_format` string (format = "nginx" only).
    pub log_format: Option<Spanned<String>>,
    /// Longer lines go to `ingest_errors` as `too_long`; default 1 MiB.
    pub max_line_bytes: Option<Spanned<u64>>,
}

/// `time = { ... }` of a stream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeConfig {
    /// Raw lines: a regex with one capture holding the time text.
    pub regex: Option<Spanned<String>>,
    /// JSON lines: the field (dotted path) holding the time.
    pub field: Option<Spanned<String>>,
    /// A chrono format, or `rfc3339`, `unix`, `unix_ms`.
    pub format: Spanned<String>,
    /// The year for formats without one (syslog); default: the current year.
    pub year: Option<Spanned<i32>>,
    /// The offset for formats without one, like `+08:00`; default UTC.
    pub tz: Option<Spanned<String>>,
}

/// `[[rule]]`: what to count.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique across the rule set, `[a-z0-9_]+`.
    pub name: Spanned<String>,
    /// The stream whose events the rule sees.
    pub stream: Spanned<String>,
    /// An exact substring.
    #[serde(rename = "match")]
    pub match_text: Option<Spanned<String>>,
    /// A regex; named captures can be grouped by and filtered on.
    pub regex: Option<Spanned<String>>,
    /// Fields or captures forming the group key; default `["host"]` (Qalarm: project, module, code, env).
    pub group_by: Option<Spanned<Vec<Spanned<String>>>>,
    /// Window width; default 1m.
    pub window: Option<Spanned<String>>,
    /// Hop between windows; default = window (tumbling).
    pub slide: Option<Spanned<String>>,
    /// Count every non-overlapping occurrence instead of once per line.
    pub count_repeats: Option<Spanned<bool>>,
    /// `"field"` or `{ after = "A", before = "B" }`.
    pub value: Option<Spanned<toml::Value>>,
    /// A boolean expression on fields, captures, `host` and `value`.
    pub filter: Option<Spanned<String>>,
    /// A built-in pack of rules: `nginx`.
    pub builtin: Option<Spanned<String>>,
}

/// `[[alert]]`: when to notify.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// Unique among alerts, `[a-z0-9_]+`.
    pub name: Spanned<String>,
    /// The rule whose windows the alert watches (threshold and absence alerts).
    pub rule: Option<Spanned<String>>,
    /// `count > 100`, arithmetic and `and`/`or` over count, sum, min, max, avg; or `absent`.
    pub when: Option<Spanned<String>>,
    /// Consecutive windows the condition must hold; default 1.
    #[serde(rename = "for")]
    pub for_windows: Option<Spanned<i64>>,
    /// `machine` (default), `sum` or `avg`.
    pub view: Option<Spanned<String>>,
    /// Free text carried in notifications; default `warning`.
    pub severity: Option<Spanned<String>>,
    /// Re-notify while firing, this often in event time.
    pub repeat_interval: Option<Spanned<String>>,
    /// At most this many firing notifications per episode.
    pub max_notifications: Option<Spanned<i64>>,
    /// Notifier names; `log` always exists.
    pub notify: Option<Spanned<Vec<Spanned<String>>>>,
    /// Notify `resolved` when the condition stops holding; default true.
    pub resolve: Option<Spanned<bool>>,
    /// A message template; `{alert}`, `{rule}`, `{host}`, `{key}`, `{value}`, `{window_start}`, `{window_end}`.
    pub message: Option<Spanned<String>>,
    /// A key not seen for this long is forgotten; default 24h.
    pub forget: Option<Spanned<String>>,
    /// SQL alerts: a read-only query; each row returned fires.
    pub sql: Option<Spanned<String>>,
    /// SQL alerts: how often to run the query.
    pub every: Option<Spanned<String>>,
}

impl StreamConfig {
    pub fn format(&self) -> StreamFormat {
        self.format.as_ref().map_or(StreamFormat::Raw, |f| *f.get_ref())
    }
}

/// Parses one rule file, reporting TOML and schema errors at their position.
pub fn parse_rule_file(file: &SourceFile) -> Result<RuleFileConfig, RuleError> {
    toml::from_str(&file.text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        file.error_at(offset, e.message().to_string())
    })
}
