//! nginx access lines, parsed with the stream's own `log_format` string.
//!
//! A format compiles to: an optional leading literal, then variables each followed by
//! the literal that ends it (the last variable may take the rest of the line). A line
//! is parsed by finding each literal's first occurrence after its variable starts,
//! which is right for nginx's output because nginx escapes `"` and `\` inside values.
//!
//! Invariants:
//! - two variables are never adjacent (there would be no way to tell where one ends);
//!   such a format is refused at compile time;
//! - parsing a line allocates nothing but the fields `Vec`: values borrow from the line;
//! - `-` (nginx's "empty") and the empty string are missing fields, never zero;
//! - a line that does not fit is a `parse` error, a time variable that does not parse
//!   a `time` error; a numeric variable whose text is not a number stays as text.

use std::borrow::Cow;

use chrono::DateTime;
use memchr::memmem::Finder;

use crate::error::{DecodeError, ErrorReason, short};
use crate::event::{Event, FieldValue};
use crate::pattern::starts_with_short;
use crate::time::{parse_time_local, unix_seconds_to_ms};

/// An nginx `log_format` compile error; `offset` is the byte offset in the format string.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("log_format at byte {offset}: {message}")]
pub struct FormatError {
    /// Byte offset in the format string where the problem is, so the engine can point at it.
    pub offset: usize,
    /// What is wrong, for a human.
    pub message: String,
}

impl FormatError {
    fn new(offset: usize, message: impl Into<String>) -> Self {
        Self { offset, message: message.into() }
    }
}

/// How a variable's text becomes a field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Kept as text.
    Text,
    /// One number.
    Number,
    /// An upstream list (`0.010, 0.020 : 0.005`): the sum of its numbers.
    SumList,
    /// `$upstream_status` list: the last status.
    LastOfList,
}

/// Which variable sets the event time, and how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeVar {
    /// `$time_local`: `10/Oct/2000:13:55:36 -0700`.
    Local,
    /// `$time_iso8601`: `2000-10-10T13:55:36-07:00`.
    Iso8601,
    /// `$msec`: `1700000000.123`.
    Msec,
}

/// The kind of variable `name` (without `$`).
fn kind_of(name: &str) -> Kind {
    match name {
        "status"
        | "body_bytes_sent"
        | "bytes_sent"
        | "request_length"
        | "request_time"
        | "connection"
        | "connection_requests"
        | "msec" => Kind::Number,
        "upstream_response_time"
        | "upstream_connect_time"
        | "upstream_header_time"
        | "upstream_queue_time"
        | "upstream_response_length"
        | "upstream_bytes_received"
        | "upstream_bytes_sent" => Kind::SumList,
        "upstream_status" => Kind::LastOfList,
        _ => Kind::Text,
    }
}

/// One variable of the format and what ends it.
#[derive(Debug, Clone)]
struct Segment {
    /// Index into `field_names` (a variable used twice has one field).
    field: usize,
    /// The literal that follows the variable, searched for from where the variable starts;
    /// `None` for a last variable that takes the rest of the line.
    until: Option<Finder<'static>>,
    /// The variable is an upstream list (`0.1, 0.2 : 0.3`) and the literal after it
    /// starts with a list separator character, so an occurrence of the literal that is
    /// part of a `, ` or ` : ` separator does not end the value.
    list_aware: bool,
}

/// A compiled nginx `log_format`.
#[derive(Debug, Clone)]
pub struct LogFormat {
    /// Variable names without `$`, each once, in order of first appearance; the field indexes.
    names: Vec<String>,
    /// How each field's text becomes a value, by field index.
    kinds: Vec<Kind>,
    /// Literal text before the first variable; the line must start with it.
    prefix: String,
    /// The variables in order, each with the literal that ends it.
    segments: Vec<Segment>,
    /// The field that gives the event time, if the format has one.
    time: Option<(usize, TimeVar)>,
}

/// A piece of a format string while compiling.
enum Token<'f> {
    /// Literal text.
    Literal(&'f str),
    /// A variable name and the byte offset of its `$`.
    Var(&'f str, usize),
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Splits a format into literals and variables.
fn tokenize(format: &str) -> Result<Vec<Token<'_>>, FormatError> {
    let bytes = format.as_bytes();
    let mut tokens = Vec::new();
    let mut lit_start = 0;
    let mut i = 0;
    while let Some(found) = memchr::memchr(b'$', &bytes[i..]) {
        let dollar = i + found;
        if dollar > lit_start {
            tokens.push(Token::Literal(&format[lit_start..dollar]));
        }
        let (name, end) = if bytes.get(dollar + 1) == Some(&b'{') {
            let start = dollar + 2;
            let close = memchr::memchr(b'}', &bytes[start..])
                .map(|n| start + n)
                .ok_or_else(|| FormatError::new(dollar, "\"${\" without a closing \"}\""))?;
            (&format[start..close], close + 1)
        } else {
            let start = dollar + 1;
            let len = bytes[start..].iter().take_while(|&&b| is_name_byte(b)).count();
            (&format[start..start + len], start + len)
        };
        if name.is_empty() {
            return Err(FormatError::new(dollar, "\"$\" without a variable name"));
        }
        if let Some(bad) = name.bytes().position(|b| !is_name_byte(b)) {
            return Err(FormatError::new(dollar + 2 + bad, format!("invalid character in variable name {name:?}")));
        }
        tokens.push(Token::Var(name, dollar));
        i = end;
        lit_start = end;
    }
    if lit_start < format.len() {
        tokens.push(Token::Literal(&format[lit_start..]));
    }
    Ok(tokens)
}

impl LogFormat {
    /// Compiles nginx's own `log_format` string (`$var` and `${var}` between literal text).
    pub fn compile(format: &str) -> Result<LogFormat, FormatError> {
        // Lines lose their trailing whitespace before parsing, so the format does too.
        let format = format.trim_end();
        if format.is_empty() {
            return Err(FormatError::new(0, "empty log_format"));
        }
        let tokens = tokenize(format)?;
        let mut names: Vec<String> = Vec::new();
        let mut kinds = Vec::new();
        let mut prefix = String::new();
        let mut segments: Vec<Segment> = Vec::new();
        let mut local_or_iso = None;
        let mut msec = None;
        let mut previous_was_var = false;
        for token in tokens {
            match token {
                Token::Literal(lit) => {
                    match segments.last_mut() {
                        None => prefix = lit.to_owned(),
                        Some(seg) => {
                            // Every `$upstream_*` variable is a list when a request went
                            // to several upstreams (addresses, statuses, times, headers).
                            let is_list = names[seg.field].starts_with("upstream_");
                            seg.list_aware = is_list && lit.starts_with([' ', ',', ':']);
                            seg.until = Some(Finder::new(lit.as_bytes()).into_owned());
                        }
                    }
                    previous_was_var = false;
                }
                Token::Var(name, offset) => {
                    if previous_was_var {
                        return Err(FormatError::new(
                            offset,
                            format!("${name} directly follows another variable; nothing tells where one ends"),
                        ));
                    }
                    let field = match names.iter().position(|n| n == name) {
                        Some(i) => i,
                        None => {
                            names.push(name.to_owned());
                            kinds.push(kind_of(name));
                            names.len() - 1
                        }
                    };
                    match name {
                        "time_local" if local_or_iso.is_none() => local_or_iso = Some((field, TimeVar::Local)),
                        "time_iso8601" if local_or_iso.is_none() => local_or_iso = Some((field, TimeVar::Iso8601)),
                        "msec" if msec.is_none() => msec = Some((field, TimeVar::Msec)),
                        _ => {}
                    }
                    segments.push(Segment { field, until: None, list_aware: false });
                    previous_was_var = true;
                }
            }
        }
        if segments.is_empty() {
            return Err(FormatError::new(0, "log_format has no $variable"));
        }
        Ok(LogFormat { names, kinds, prefix, segments, time: local_or_iso.or(msec) })
    }

    /// Variable names without `$`, in order of appearance (duplicates allowed in the
    /// format but listed once); these are the indexes of [`Event::fields`].
    pub fn field_names(&self) -> &[String] {
        &self.names
    }

    /// Parses one access line. Trailing whitespace and `\r` are ignored.
    pub fn parse<'a>(&self, line: &'a str) -> Result<Event<'a>, DecodeError> {
        let trimmed = line.trim_end();
        let bytes = trimmed.as_bytes();
        if !bytes.starts_with(self.prefix.as_bytes()) {
            return Err(DecodeError::new(ErrorReason::Parse, "line does not start like the log_format"));
        }
        let mut fields: Vec<Option<FieldValue<'a>>> = vec![None; self.names.len()];
        let mut pos = self.prefix.len();
        for seg in &self.segments {
            let (start, end, next) = match &seg.until {
                Some(finder) => {
                    let mut from = pos;
                    let at = loop {
                        let found = bytes.get(from..).and_then(|rest| find_literal(finder, rest)).ok_or_else(|| {
                            DecodeError::new(
                                ErrorReason::Parse,
                                format!(
                                    "no {:?} after ${}",
                                    String::from_utf8_lossy(finder.needle()),
                                    self.names[seg.field]
                                ),
                            )
                        })?;
                        let at = from + found;
                        if seg.list_aware && in_list_separator(&bytes[pos..at], &bytes[at..]) {
                            from = at + 1;
                            continue;
                        }
                        break at;
                    };
                    (pos, at, at + finder.needle().len())
                }
                None => (pos, trimmed.len(), trimmed.len()),
            };
            // Literals are whole UTF-8 sequences, so matches fall on char boundaries;
            // `get` keeps that an error instead of a panic should it ever not hold.
            let text = trimmed
                .get(start..end)
                .ok_or_else(|| DecodeError::new(ErrorReason::Parse, "value is not on a character boundary"))?;
            if fields[seg.field].is_none() {
                fields[seg.field] = value_of(self.kinds[seg.field], text);
            }
            pos = next;
        }
        if pos != trimmed.len() {
            return Err(DecodeError::new(
                ErrorReason::Parse,
                format!("unexpected text after the last field: {:?}", short(trimmed.get(pos..).unwrap_or(""))),
            ));
        }
        let time_ms = match self.time {
            None => None,
            Some((field, var)) => {
                let text = fields[field].as_ref().map(FieldValue::text).unwrap_or("");
                let parsed = match var {
                    TimeVar::Local => parse_time_local(text),
                    TimeVar::Iso8601 => DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_millis()),
                    TimeVar::Msec => unix_seconds_to_ms(text),
                };
                match parsed {
                    Some(t) => Some(t),
                    None => {
                        return Err(DecodeError::new(
                            ErrorReason::Time,
                            format!("${} {:?} is not a time", self.names[field], short(text)),
                        ));
                    }
                }
            }
        };
        Ok(Event { time_ms, host: None, text: Cow::Borrowed(line), fields })
    }
}

/// The first occurrence of `finder`'s needle in `hay`. The literals between nginx
/// variables are short (` `, `" "`, ` [`), and the value before one rarely holds its
/// first byte, so a `memchr` for that byte plus an inline compare is what finds them
/// fastest: memmem's setup and its out-of-line `memcmp` cost more than the search.
#[inline]
fn find_literal(finder: &Finder<'_>, hay: &[u8]) -> Option<usize> {
    let needle = finder.needle();
    if needle.len() > SHORT_LITERAL {
        return finder.find(hay);
    }
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(i) = memchr::memchr(first, &hay[from..]) {
        let at = from + i;
        if starts_with_short(&hay[at + 1..], rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Literals up to this long are found by [`find_literal`]'s `memchr` path.
const SHORT_LITERAL: usize = 4;

/// Whether the boundary between `before` (the value so far) and `after` falls inside
/// one of nginx's upstream list separators, `, ` and ` : `.
fn in_list_separator(before: &[u8], after: &[u8]) -> bool {
    matches!(before.last(), Some(b',' | b':')) || after.starts_with(b" : ") || after.starts_with(b", ")
}

/// A variable's text as a field value; `None` for nginx's `-` and for empty text.
fn value_of(kind: Kind, text: &str) -> Option<FieldValue<'_>> {
    if text.is_empty() || text == "-" {
        return None;
    }
    let number = match kind {
        Kind::Text => None,
        Kind::Number => parse_number(text),
        Kind::SumList | Kind::LastOfList if !text.contains([',', ':']) => parse_number(text),
        Kind::SumList | Kind::LastOfList => {
            // `-` entries are upstreams that gave no value; a list of only those is missing.
            let mut parts = text.split([',', ':']).map(str::trim).filter(|p| *p != "-").peekable();
            parts.peek()?;
            let mut numbers = parts.map(parse_number);
            if kind == Kind::SumList {
                numbers.try_fold(0.0, |acc, v| Some(acc + v?))
            } else {
                numbers.next_back().flatten()
            }
        }
    };
    Some(match number {
        Some(value) => FieldValue::Number { value, text: Cow::Borrowed(text) },
        None => FieldValue::Text(Cow::Borrowed(text)),
    })
}

/// A finite decimal number, as nginx writes them.
fn parse_number(text: &str) -> Option<f64> {
    let first = *text.as_bytes().first()?;
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests;
