//! Raw lines: the whole line is the text rules scan; event time and host come from
//! optional regexes configured on the stream ([`TimeExtractor`], [`HostExtractor`]).
//!
//! Invariants:
//! - every regex and time format is compiled and validated once, at configuration
//!   time; a bad setting is a [`ConfigError`] naming the setting, never a per-line failure;
//! - a configured time that does not parse is an error of reason `time`, never a
//!   guessed or defaulted timestamp;
//! - per-line work does not allocate on success (see [`crate::pattern`]).

use std::borrow::Cow;

use regex_automata::util::primitives::PatternID;

use crate::error::{ConfigError, ConfigField, DecodeError, ErrorReason, short};
use crate::event::Event;
use crate::pattern::LineRegex;
use crate::time::TimeParser;

/// Raw-line event time: a regex with exactly one capture group, plus a [`TimeParser`].
#[derive(Debug, Clone)]
pub struct TimeExtractor {
    /// Finds the time text; its one capture group is the text given to `parser`.
    regex: LineRegex,
    /// Turns the captured text into unix milliseconds.
    parser: TimeParser,
}

impl TimeExtractor {
    /// Errors name the setting: `time.regex`, `time.format`, `time.tz`, `time.year`.
    pub fn new(regex: &str, format: &str, year: Option<i32>, tz: Option<&str>) -> Result<Self, ConfigError> {
        let re = LineRegex::new(regex).map_err(|e| ConfigError::new(ConfigField::TimeRegex, e))?;
        let groups = re.group_info().group_len(PatternID::ZERO).saturating_sub(1);
        if groups != 1 {
            return Err(ConfigError::new(
                ConfigField::TimeRegex,
                format!("needs exactly one capture group around the time, found {groups}"),
            ));
        }
        let parser =
            TimeParser::new(format, year, tz).map_err(|e| ConfigError { field: e.field.in_time_table(), ..e })?;
        Ok(TimeExtractor { regex: re, parser })
    }

    /// Event time of `line` in unix ms; `None` when the regex does not match or the text
    /// does not parse. `received_ms`: when the line arrived (see [`TimeParser::parse`]).
    pub fn extract(&self, line: &str, received_ms: i64) -> Option<i64> {
        self.try_extract(line, received_ms).ok()
    }

    /// Like [`TimeExtractor::extract`], saying why on failure (for `ingest_errors`).
    pub fn try_extract(&self, line: &str, received_ms: i64) -> Result<i64, DecodeError> {
        let text = self
            .regex
            .capture(line, 1)
            .ok_or_else(|| DecodeError::new(ErrorReason::Time, "time regex does not match"))?;
        self.parser
            .parse_detailed(text, received_ms)
            .map_err(|e| DecodeError::new(ErrorReason::Time, format!("time {:?} does not parse: {e}", short(text))))
    }
}

/// Host from a regex's first capture group (or the group named `host` if present).
#[derive(Debug, Clone)]
pub struct HostExtractor {
    /// Finds the host.
    regex: LineRegex,
    /// Which explicit group holds the host: the one named `host`, else the first.
    group: usize,
}

impl HostExtractor {
    /// Errors name the setting `host.regex`.
    pub fn new(regex: &str) -> Result<Self, ConfigError> {
        let re = LineRegex::new(regex).map_err(|e| ConfigError::new(ConfigField::HostRegex, e))?;
        let info = re.group_info();
        if info.group_len(PatternID::ZERO) < 2 {
            return Err(ConfigError::new(ConfigField::HostRegex, "needs a capture group around the host"));
        }
        let group = info.to_index(PatternID::ZERO, "host").unwrap_or(1);
        Ok(HostExtractor { regex: re, group })
    }

    /// The host in `line`; `None` when the regex does not match or captures nothing
    /// (an empty host is no host: the source's default applies).
    pub fn extract<'a>(&self, line: &'a str) -> Option<&'a str> {
        self.regex.capture(line, self.group).filter(|h| !h.is_empty())
    }
}

/// Decodes raw lines: the text is the line; time and host as configured.
#[derive(Debug, Clone)]
pub struct RawDecoder {
    /// Event time from the line; `None` leaves the time to the transport.
    time: Option<TimeExtractor>,
    /// Host from the line; `None` leaves the host to the source.
    host: Option<HostExtractor>,
}

impl RawDecoder {
    pub fn new(time: Option<TimeExtractor>, host: Option<HostExtractor>) -> RawDecoder {
        RawDecoder { time, host }
    }

    /// The line as an event. A configured time that does not match or parse is an
    /// error of reason `time`; a host regex that does not match leaves `host` as `None`.
    /// `received_ms`: when the line arrived (see [`TimeParser::parse`]).
    pub fn decode<'a>(&self, line: &'a str, received_ms: i64) -> Result<Event<'a>, DecodeError> {
        let time_ms = match &self.time {
            Some(t) => Some(t.try_extract(line, received_ms)?),
            None => None,
        };
        let host = self.host.as_ref().and_then(|h| h.extract(line)).map(Cow::Borrowed);
        Ok(Event { time_ms, host, text: Cow::Borrowed(line), fields: Vec::new() })
    }
}

#[cfg(test)]
mod tests;
