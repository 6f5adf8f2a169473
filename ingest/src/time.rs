//! Event time: texts to unix milliseconds.
//!
//! - [`TimeParser`]: a chrono strftime format or a special name (`rfc3339`, `unix`,
//!   `unix_ms`), compiled once per stream, with a per-thread cache of the last text parsed;
//! - `parse_time_local`: the common log format (`10/Oct/2000:13:55:36 -0700`) by hand,
//!   for nginx's `$time_local` and for the strftime format that spells it;
//! - `unix_seconds_to_ms`, `seconds_f64_to_ms`: unix seconds as text or as a float (nginx's
//!   `$msec`, Qalarm's `time`).
//!
//! Invariants:
//! - a format, offset or year is checked when the parser is built: a bad one is a
//!   [`ConfigError`] naming the setting (`format`, `tz`, `year`), never a per-line failure;
//! - a text that does not parse has no time, never a guessed or defaulted one; the
//!   hand-written paths answer what chrono answers (property-tested);
//! - a text without a year takes it from the record's arrival ([`TimeParser::parse`]);
//!   the parse cache answers only its own parser, the same text and the same year;
//! - decimal seconds are read exactly; only exponent forms go through `f64`.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::format::{self, Fixed, Item, Numeric, Parsed, StrftimeItems};
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Utc};

use crate::error::{ConfigError, ConfigField};
use crate::pattern::starts_with_short;

/// How a [`TimeParser`] reads its text.
#[derive(Debug, Clone)]
enum TimeFormat {
    /// RFC 3339 / ISO 8601 with an offset, as chrono reads it.
    Rfc3339,
    /// Unix seconds, possibly fractional.
    UnixSeconds,
    /// Unix milliseconds, possibly fractional (the fraction is dropped).
    UnixMillis,
    /// A chrono strftime format, pre-parsed once.
    Strftime {
        /// The parsed items, so that no line re-parses the format string.
        items: Vec<Item<'static>>,
        /// The configured `year`, for texts without one (syslog). `None`: such a text takes
        /// its year from the time the record arrived (see [`TimeParser::parse`]).
        year: Option<i32>,
        /// Offset used when the text carries none.
        offset: FixedOffset,
        /// The format is the common log format's `%d/%b/%Y:%H:%M:%S %z` (nginx's
        /// `$time_local`, Apache's `%t`): texts of its one fixed shape are parsed by
        /// hand, 5 times faster than chrono's general parser; any other text goes to chrono.
        common_log: bool,
    },
}

/// The time format of nginx's and Apache's access logs.
const COMMON_LOG_FORMAT: &str = "%d/%b/%Y:%H:%M:%S %z";

/// Compiled event-time parser: chrono strftime format, optional year (for syslog formats
/// without `%Y`; else inferred per record, see [`TimeParser::parse`]), optional fixed
/// offset (used when the format has no `%z`; default UTC).
#[derive(Debug, Clone)]
pub struct TimeParser {
    /// What the text looks like; decided once at construction.
    format: TimeFormat,
    /// Texts have no year and none is configured: the year comes from each record's
    /// arrival, so a cached answer holds only while that gives the same year.
    infers_year: bool,
    /// Tells this parser's entry in [`LAST_PARSE`] from another parser's: unique per
    /// construction (a clone keeps it, and answers alike).
    id: u64,
}

/// The next [`TimeParser::id`]; 0 is never handed out, so the empty cache matches no parser.
static NEXT_PARSER_ID: AtomicU64 = AtomicU64::new(1);

/// Longest time text the per-thread cache keeps.
pub(crate) const CACHED_TEXT_BYTES: usize = 40;

/// The last time text this thread parsed successfully, and its answer. Lines come in time
/// order, many to a second, so most texts equal the one before (nginx caches its own time
/// text for the same reason): a compare instead of a parse, which saves about 250
/// instructions a line for the common log format and more for chrono's general path.
#[derive(Clone, Copy)]
struct LastParse {
    /// [`TimeParser::id`] of the parser that answered.
    parser: u64,
    len: usize,
    text: [u8; CACHED_TEXT_BYTES],
    ms: i64,
}

thread_local! {
    static LAST_PARSE: Cell<LastParse> =
        const { Cell::new(LastParse { parser: 0, len: 0, text: [0; CACHED_TEXT_BYTES], ms: 0 }) };
}

impl TimeParser {
    /// `format` is a chrono strftime format, or one of the special names `rfc3339`,
    /// `unix` (seconds, may be fractional), `unix_ms`. `year` is the year for formats
    /// without one (default: inferred from each record's arrival). `tz` is a fixed
    /// offset (`+00:00`, `-07:00`, `+0800`, `Z`, `UTC`) for texts without an offset.
    /// Errors name the setting: `format`, `tz` or `year`.
    pub fn new(format: &str, year: Option<i32>, tz: Option<&str>) -> Result<TimeParser, ConfigError> {
        let offset = match tz {
            None => FixedOffset::east_opt(0).ok_or_else(|| ConfigError::new(ConfigField::Tz, "invalid offset"))?,
            Some(tz) => parse_offset(tz)?,
        };
        if let Some(y) = year
            && !(1..=9999).contains(&y)
        {
            return Err(ConfigError::new(ConfigField::Year, format!("{y} is not a year between 1 and 9999")));
        }
        let format = match format.trim() {
            "rfc3339" | "RFC3339" => TimeFormat::Rfc3339,
            "unix" => TimeFormat::UnixSeconds,
            "unix_ms" => TimeFormat::UnixMillis,
            "" => return Err(ConfigError::new(ConfigField::Format, "empty time format")),
            _ => {
                let items = StrftimeItems::new(format).parse_to_owned().map_err(|e| {
                    ConfigError::new(ConfigField::Format, format!("invalid chrono format {format:?}: {e}"))
                })?;
                if !has_date(&items) {
                    return Err(ConfigError::new(
                        ConfigField::Format,
                        format!(
                            "format {format:?} has no day of the month (%d, %e), day of the year (%j), week or timestamp (%s)"
                        ),
                    ));
                }
                TimeFormat::Strftime { items, year, offset, common_log: format == COMMON_LOG_FORMAT }
            }
        };
        let infers_year = matches!(&format, TimeFormat::Strftime { items, year: None, .. } if !has_year(items));
        Ok(TimeParser { format, infers_year, id: NEXT_PARSER_ID.fetch_add(1, Ordering::Relaxed) })
    }

    /// Unix milliseconds, or `None` when the text does not parse (never a guessed time).
    ///
    /// `received_ms` is when the record arrived (its Kafka timestamp, or when it was read).
    /// A text without a year (syslog's `Dec 31 23:59:59`) whose `year` is not configured
    /// takes the latest year that puts it no later than [`YEAR_SKEW_MS`] after that: a
    /// log line is written before it arrives. So December's lines read in January fall
    /// in the old year, and a replay of this year's March log in November stays in this
    /// year. (Reading the year once at start, as before, put a long-lived worker's
    /// January lines a year back, where every window had closed.)
    pub fn parse(&self, text: &str, received_ms: i64) -> Option<i64> {
        self.parse_detailed(text, received_ms).ok()
    }

    /// Like [`TimeParser::parse`], with chrono's reason on failure.
    pub(crate) fn parse_detailed(&self, text: &str, received_ms: i64) -> Result<i64, String> {
        let bytes = text.as_bytes();
        if bytes.len() > CACHED_TEXT_BYTES {
            return self.parse_uncached(text, received_ms);
        }
        let last = LAST_PARSE.get();
        if last.parser == self.id
            && last.len == bytes.len()
            && starts_with_short(bytes, &last.text[..last.len])
            && (!self.infers_year || year_still_fits(last.ms, received_ms))
        {
            return Ok(last.ms);
        }
        let ms = self.parse_uncached(text, received_ms)?;
        let mut entry = LastParse { parser: self.id, len: bytes.len(), text: [0; CACHED_TEXT_BYTES], ms };
        entry.text[..bytes.len()].copy_from_slice(bytes);
        LAST_PARSE.set(entry);
        Ok(ms)
    }

    fn parse_uncached(&self, text: &str, received_ms: i64) -> Result<i64, String> {
        match &self.format {
            TimeFormat::Rfc3339 => {
                DateTime::parse_from_rfc3339(text.trim()).map(|t| t.timestamp_millis()).map_err(|e| e.to_string())
            }
            TimeFormat::UnixSeconds => unix_seconds_to_ms(text).ok_or_else(|| "not unix seconds".to_owned()),
            TimeFormat::UnixMillis => unix_ms(text).ok_or_else(|| "not unix milliseconds".to_owned()),
            TimeFormat::Strftime { items, year, offset, common_log } => {
                if *common_log && let Some(ms) = parse_time_local(text) {
                    return Ok(ms);
                }
                let mut parsed = Parsed::new();
                format::parse(&mut parsed, text, items.iter()).map_err(|e| e.to_string())?;
                let has_year = parsed.year().is_some()
                    || parsed.year_mod_100().is_some()
                    || parsed.year_div_100().is_some()
                    || parsed.isoyear().is_some()
                    || parsed.isoyear_mod_100().is_some()
                    || parsed.timestamp().is_some();
                // Date-only formats mean midnight; chrono insists on an hour and a minute.
                if parsed.hour_div_12().is_none() && parsed.hour_mod_12().is_none() && parsed.timestamp().is_none() {
                    parsed.set_hour(0).map_err(|e| e.to_string())?;
                    if parsed.minute().is_none() {
                        parsed.set_minute(0).map_err(|e| e.to_string())?;
                    }
                }
                let in_year = |year: i32| {
                    let mut parsed = parsed.clone();
                    parsed.set_year(i64::from(year)).map_err(|e| e.to_string())?;
                    to_ms(&parsed, offset)
                };
                match (has_year, year) {
                    (true, _) => to_ms(&parsed, offset),
                    (false, Some(year)) => in_year(*year),
                    (false, None) => {
                        // The latest of three years not after arrival plus skew; `Feb 29`
                        // skips the years without one.
                        let latest = received_ms.saturating_add(YEAR_SKEW_MS);
                        let arrival_year = Utc.timestamp_millis_opt(received_ms).single().map_or(1970, |t| t.year());
                        let mut first_error = None;
                        for year in [arrival_year + 1, arrival_year, arrival_year - 1] {
                            match in_year(year) {
                                Ok(ms) if ms <= latest => return Ok(ms),
                                Ok(_) => {}
                                Err(e) => first_error = first_error.or(Some(e)),
                            }
                        }
                        Err(first_error.unwrap_or_else(|| "no year puts this time before its arrival".to_owned()))
                    }
                }
            }
        }
    }
}

/// The parsed time in unix ms, with `offset` when the text carries none.
fn to_ms(parsed: &Parsed, offset: &FixedOffset) -> Result<i64, String> {
    let dt = if parsed.offset().is_some() { parsed.to_datetime() } else { parsed.to_datetime_with_timezone(offset) };
    dt.map(|t| t.timestamp_millis()).map_err(|e| e.to_string())
}

/// How far after its arrival a year-less time may lie and still take the arrival's year
/// (or the next): clocks and zones disagree, by hours, not by a week.
pub const YEAR_SKEW_MS: i64 = 7 * 24 * 3_600_000;

/// Whether a year-less text cached as `ms` would still take the same year at
/// `received_ms`: it is no later than arrival plus skew, and its next year's instance is
/// later. That instance is at least 364 days on: 365 or 366 for a month and day, 364 or
/// 371 for a week number and weekday (`%W %a`).
fn year_still_fits(ms: i64, received_ms: i64) -> bool {
    const YEAR_MS: i64 = 364 * 24 * 3_600_000;
    let latest = received_ms.saturating_add(YEAR_SKEW_MS);
    ms <= latest && latest < ms.saturating_add(YEAR_MS)
}

/// Whether the format writes a year (or a whole timestamp) into its text.
fn has_year(items: &[Item<'_>]) -> bool {
    items.iter().any(|item| {
        matches!(
            item,
            Item::Numeric(
                Numeric::Year
                    | Numeric::YearDiv100
                    | Numeric::YearMod100
                    | Numeric::IsoYear
                    | Numeric::IsoYearDiv100
                    | Numeric::IsoYearMod100
                    | Numeric::Timestamp,
                _
            ) | Item::Fixed(Fixed::RFC2822 | Fixed::RFC3339)
        )
    })
}

/// Whether a strftime format can produce a calendar date at all; one that cannot would
/// fail on every line, so it is refused at config time.
fn has_date(items: &[Item<'_>]) -> bool {
    items.iter().any(|item| {
        matches!(
            item,
            Item::Numeric(
                Numeric::Day
                    | Numeric::Ordinal
                    | Numeric::Timestamp
                    | Numeric::WeekFromSun
                    | Numeric::WeekFromMon
                    | Numeric::IsoWeek,
                _
            ) | Item::Fixed(Fixed::RFC2822 | Fixed::RFC3339)
        )
    })
}

/// A fixed UTC offset from config text: `Z`, `UTC`, `GMT`, `+07:00`, `-0700`, `+07`.
fn parse_offset(tz: &str) -> Result<FixedOffset, ConfigError> {
    let t = tz.trim();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("gmt") {
        return FixedOffset::east_opt(0).ok_or_else(|| ConfigError::new(ConfigField::Tz, "invalid offset"));
    }
    // chrono wants minutes; `+07` is common shorthand for `+07:00`.
    let hours_only = t.len() == 3 && t.starts_with(['+', '-']) && t[1..].bytes().all(|b| b.is_ascii_digit());
    let full;
    let t = if hours_only {
        full = format!("{t}:00");
        full.as_str()
    } else {
        t
    };
    t.parse::<FixedOffset>().map_err(|e| {
        ConfigError::new(
            ConfigField::Tz,
            format!("{tz:?} is not a fixed offset like \"+08:00\", \"-0700\" or \"UTC\" ({e})"),
        )
    })
}

/// Unix seconds (`1700000000`, `1700000000.123`, `-5.5`, `1.7e9`) to milliseconds.
/// Plain decimals are read exactly (sub-millisecond digits are dropped, as chrono does);
/// exponent forms go through `f64` and are rounded.
pub(crate) fn unix_seconds_to_ms(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Some(ms) = exact_decimal_ms(t, 3) {
        return Some(ms);
    }
    let v: f64 = t.parse().ok()?;
    seconds_f64_to_ms(v)
}

/// Float unix seconds to milliseconds, rounded (floats are binary; `0.123 * 1000` is not
/// exactly 123). `None` when not finite or outside the `i64` millisecond range.
pub(crate) fn seconds_f64_to_ms(v: f64) -> Option<i64> {
    let ms = (v * 1000.0).round();
    // i64::MAX as f64 rounds up to 2^63, which does not fit: keep strictly inside.
    if ms.is_finite() && ms > -9.2e18 && ms < 9.2e18 { Some(ms as i64) } else { None }
}

/// Unix milliseconds, integer or with a fraction that is dropped.
fn unix_ms(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Some(ms) = exact_decimal_ms(t, 0) {
        return Some(ms);
    }
    let v: f64 = t.parse().ok()?;
    if v.is_finite() && v > -9.2e18 && v < 9.2e18 { Some(v.round() as i64) } else { None }
}

/// Reads `[+-]digits[.digits]` exactly and scales it by `10^scale`, truncating the rest
/// of the fraction. `None` for anything else (exponents, `inf`, empty) or on overflow.
fn exact_decimal_ms(t: &str, scale: u32) -> Option<i64> {
    let (negative, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit()) || !frac_part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value: i64 = 0;
    for b in int_part.bytes() {
        value = value.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    let mut frac = frac_part.bytes();
    for _ in 0..scale {
        let digit = frac.next().map_or(0, |b| i64::from(b - b'0'));
        value = value.checked_mul(10)?.checked_add(digit)?;
    }
    Some(if negative { -value } else { value })
}

/// nginx `$time_local` (`10/Oct/2000:13:55:36 -0700`) to unix ms, by hand: it is on
/// every line and has one fixed shape. (Also the fast path of the strftime format
/// `%d/%b/%Y:%H:%M:%S %z` in [`TimeParser`], which is why offsets chrono
/// would refuse, 24 hours or more, are refused here too.)
pub(crate) fn parse_time_local(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[14] != b':' || b[17] != b':' || b[20] != b' '
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    let month = match &b[3..6] {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    };
    let day = num(0..2)?;
    let year = i32::try_from(num(7..11)?).ok()?;
    let (hour, minute, second) = (num(12..14)?, num(15..17)?, num(18..20)?);
    let sign = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (off_h, off_m) = (num(22..24)?, num(24..26)?);
    if off_m >= 60 || off_h >= 24 {
        return None;
    }
    let offset_ms = sign * i64::from(off_h * 3600 + off_m * 60) * 1000;
    let local = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)?;
    Some(local.and_utc().timestamp_millis() - offset_ms)
}

#[cfg(test)]
mod tests;
