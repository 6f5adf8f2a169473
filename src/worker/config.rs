//! The worker config file (`logpulse run -c logpulse.toml`, DESIGN.md "Worker config").
//!
//! Invariants:
//! - every table is `deny_unknown_fields`: a misspelt key is an error at its
//!   `path:line:col`, never a setting silently ignored;
//! - relative paths (`data_dir`, `rules`, file sources) are relative to the config
//!   file's folder, so a config means the same wherever the worker is started;
//! - the whole file is checked before anything starts, and every problem is reported
//!   at once, each with its position.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::sources::kafka::KafkaSourceConfig;
use engine::{RuleError, RuleErrors, SourceFile};
use serde::Deserialize;
use toml::Spanned;

/// The whole worker config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// Where tables, checkpoints and locks live.
    #[serde(default = "default_data_dir")]
    pub data_dir: Spanned<String>,
    /// Rule files, as globs.
    pub rules: Spanned<Vec<String>>,
    /// How often each lane checkpoints (and so commits its Kafka offsets).
    #[serde(
        default = "default_checkpoint_interval",
        deserialize_with = "engine::duration::deserialize_spanned_duration"
    )]
    pub checkpoint_interval: Spanned<Duration>,
    /// How often closed windows are flushed to Parquet (and so become queryable).
    #[serde(default = "default_flush_interval", deserialize_with = "engine::duration::deserialize_spanned_duration")]
    pub flush_interval: Spanned<Duration>,
    /// How often the Parquet history is compacted.
    #[serde(default = "default_compact_interval", deserialize_with = "engine::duration::deserialize_spanned_duration")]
    pub compact_interval: Spanned<Duration>,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub log: LogConfig,
    /// Where the records come from.
    #[serde(default, rename = "source")]
    pub sources: Vec<Spanned<SourceConfig>>,
    /// Where alert notifications go (used by alerting; `log` always exists).
    #[serde(default, rename = "notifier")]
    pub notifiers: Vec<Spanned<NotifierConfig>>,
    /// How Parquet is written and compacted.
    #[serde(default)]
    pub storage: sinks::ParquetStoreConfig,
    /// Limits of SQL queries over HTTP.
    #[serde(default)]
    pub query: queries::QueryConfig,
}

fn default_data_dir() -> Spanned<String> {
    Spanned::new(0..0, "./data".into())
}
fn default_checkpoint_interval() -> Spanned<Duration> {
    Spanned::new(0..0, Duration::from_secs(10))
}
fn default_flush_interval() -> Spanned<Duration> {
    Spanned::new(0..0, Duration::from_secs(1))
}
fn default_compact_interval() -> Spanned<Duration> {
    Spanned::new(0..0, Duration::from_secs(60))
}

/// `[http]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on; loopback unless configured otherwise. Port 0 picks a free port.
    #[serde(default = "default_listen")]
    pub listen: Spanned<String>,
    /// When set, every route but `/healthz` requires `Authorization: Bearer <token>`.
    pub token: Option<String>,
}

fn default_listen() -> Spanned<String> {
    Spanned::new(0..0, "127.0.0.1:8080".into())
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { listen: default_listen(), token: None }
    }
}

/// `[log]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (default) or `json` (one object per line, for log shippers).
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `logpulse=debug,rdkafka=warn`); `RUST_LOG` overrides it.
    pub level: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[[source]]`: one input feeding one stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SourceConfig {
    Kafka(KafkaSourceConfig),
    File(FileSourceConfig),
    Stdin(StdinSourceConfig),
}

impl SourceConfig {
    pub fn stream(&self) -> &str {
        match self {
            SourceConfig::Kafka(k) => &k.stream,
            SourceConfig::File(f) => &f.stream,
            SourceConfig::Stdin(s) => &s.stream,
        }
    }
}

/// `[[source]] kind = "file"`: files matching a glob, followed like `tail -F`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// A path or glob; new files that match are picked up while following.
    pub path: String,
    /// Keep reading as the files grow, across rotation (rename or truncate); `false`
    /// reads to the end once, closes every window and stops.
    #[serde(default = "yes")]
    pub follow: bool,
    /// The host of lines whose stream does not name one (default: this machine's name).
    pub host: Option<String>,
    pub stream: String,
    /// How often a followed file is checked for new data and rotation.
    #[serde(default = "default_poll", deserialize_with = "sinks::deserialize_duration")]
    pub poll_interval: Duration,
}

fn yes() -> bool {
    true
}
fn default_poll() -> Duration {
    Duration::from_millis(200)
}

/// `[[source]] kind = "stdin"`: lines from standard input, until it closes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinSourceConfig {
    pub host: Option<String>,
    pub stream: String,
}

/// `[[notifier]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierConfig {
    /// What alerts name in `notify`.
    pub name: String,
    /// `webhook`, `kafka` or `log`.
    pub kind: String,
    /// webhook: where notifications are POSTed (JSON).
    pub url: Option<String>,
    /// kafka: bootstrap brokers.
    pub brokers: Option<String>,
    /// kafka: the topic notifications go to, keyed by their `id`.
    pub topic: Option<String>,
    /// kafka: `json` (default) or `msgpack`.
    pub format: Option<String>,
    /// One delivery attempt's limit (webhook) or delivery limit (kafka); default 5s.
    pub timeout: Option<String>,
    /// webhook: attempts before a notification is given up; default 5.
    pub max_attempts: Option<u32>,
}

impl NotifierConfig {
    pub fn timeout(&self) -> anyhow::Result<Duration> {
        match &self.timeout {
            None => Ok(Duration::from_secs(5)),
            Some(t) => engine::duration::parse_duration(t)
                .map_err(|e| anyhow::anyhow!("notifier '{}': timeout: {e}", self.name)),
        }
    }
}

/// A config file read and checked, with its relative paths resolved.
#[derive(Debug)]
pub struct LoadedConfig {
    pub config: WorkerConfig,
    /// The config file's text, for positions of errors found later (unknown streams).
    pub file: SourceFile,
    pub data_dir: PathBuf,
    pub rule_globs: Vec<String>,
}

impl LoadedConfig {
    /// A file source's glob, resolved against the config's folder.
    pub fn resolve(&self, path: &str) -> String {
        resolve(Path::new(&self.file.path), path)
    }
}

fn resolve(config_path: &Path, path: &str) -> String {
    let base = config_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if Path::new(path).is_absolute() { path.to_string() } else { base.join(path).display().to_string() }
}

/// Reads and checks a config file; errors come as `path:line:col: message`.
pub fn load(path: &Path) -> anyhow::Result<LoadedConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| crate::error::UsageError(format!("cannot read config {}: {e}", path.display())))?;
    let file = SourceFile::new(path.display().to_string(), text);
    let config = parse(&file)?;
    let data_dir = PathBuf::from(resolve(path, config.data_dir.get_ref()));
    let rule_globs = config.rules.get_ref().iter().map(|g| resolve(path, g)).collect();
    Ok(LoadedConfig { config, file, data_dir, rule_globs })
}

/// Parses and checks everything that needs no rules and no network.
pub fn parse(file: &SourceFile) -> Result<WorkerConfig, RuleErrors> {
    let config: WorkerConfig = toml::from_str(&file.text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        RuleErrors::from(file.error_at(at, e.message().trim().to_string()))
    })?;
    let mut errors: Vec<RuleError> = Vec::new();
    if config.rules.get_ref().is_empty() {
        errors.push(file.error_in(config.rules.span(), "`rules` names no rule file"));
    }
    for (name, interval) in
        [("checkpoint_interval", &config.checkpoint_interval), ("flush_interval", &config.flush_interval)]
    {
        if interval.get_ref().is_zero() {
            errors.push(file.error_in(interval.span(), format!("`{name}` must be positive")));
        }
    }
    if config.http.listen.get_ref().parse::<std::net::SocketAddr>().is_err() {
        errors.push(file.error_in(config.http.listen.span(), "`listen` must be an address like 127.0.0.1:8080"));
    }
    if config.http.token.as_deref() == Some("") {
        errors.push(file.error_at(0, "`http.token` is empty; remove it or set a token"));
    }
    let mut stdin_sources = 0;
    for source in &config.sources {
        match source.get_ref() {
            SourceConfig::Kafka(k) => {
                if let Err(e) = k.validate() {
                    errors.push(file.error_in(source.span(), e.to_string()));
                }
            }
            SourceConfig::File(f) => {
                if let Err(e) = glob::Pattern::new(&f.path) {
                    errors.push(file.error_in(source.span(), format!("bad path pattern '{}': {e}", f.path)));
                }
            }
            SourceConfig::Stdin(_) => stdin_sources += 1,
        }
    }
    if stdin_sources > 1 {
        errors.push(file.error_at(0, "at most one stdin source"));
    }
    let mut names = BTreeSet::new();
    for notifier in &config.notifiers {
        let n = notifier.get_ref();
        if n.name == "log" || !names.insert(n.name.clone()) {
            errors.push(file.error_in(notifier.span(), format!("notifier name '{}' is taken", n.name)));
        }
        let needed: &[(&str, bool)] = match n.kind.as_str() {
            "webhook" => &[("url", n.url.is_some())],
            "kafka" => &[("brokers", n.brokers.is_some()), ("topic", n.topic.is_some())],
            "log" => &[],
            other => {
                errors.push(
                    file.error_in(notifier.span(), format!("unknown notifier kind '{other}' (webhook, kafka, log)")),
                );
                &[]
            }
        };
        if let Err(e) = n.timeout() {
            errors.push(file.error_in(notifier.span(), format!("{e:#}")));
        }
        if let Some(f) = n.format.as_deref().filter(|f| !["json", "msgpack"].contains(f)) {
            errors.push(file.error_in(notifier.span(), format!("notifier format '{f}' is not json or msgpack")));
        }
        for (field, present) in needed {
            if !present {
                errors.push(file.error_in(notifier.span(), format!("a {} notifier needs `{field}`", n.kind)));
            }
        }
    }
    if errors.is_empty() { Ok(config) } else { Err(RuleErrors(errors)) }
}

#[cfg(test)]
mod tests;
