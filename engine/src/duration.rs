//! Durations as logpulse's files write them (`30s`, `1m`, `1h30m`, `500ms`, `1d`): the
//! one parser of the project, for rule files, the worker's config and the sinks'.
//!
//! Every text is read by [`humantime::parse_duration`] (through [`parse_duration`]);
//! what is then *accepted* depends on where the text was written, and that is kept as
//! each place has always had it, so that no file that loads today is refused tomorrow:
//!
//! - **Rule files** ([`parse_duration_ms`]): windows, slides, lateness, idle timeouts,
//!   alert periods. The text is trimmed; the result is in milliseconds (`i64`), the
//!   unit of event time; and it is refused when it is zero (unless the caller allows
//!   zero, as `lateness` does), finer than a millisecond (a window edge would fall
//!   between two timestamps), or longer than a year (366 days: no window or period is
//!   meant to be that long, and the product with other numbers stays far from
//!   overflow). The message names the text and shows what to write instead, and the
//!   rule compiler places it at the value's `path:line:col`.
//! - **Operational configs** ([`parse_duration`], [`deserialize_duration`],
//!   [`deserialize_spanned_duration`]): the worker's intervals and notifier timeouts,
//!   the sinks' and the queries' settings. Any duration humantime reads is accepted
//!   as it is written (untrimmed, zero and sub-millisecond included), in a
//!   [`std::time::Duration`], and the error is humantime's own text: these are
//!   process settings, not event-time arithmetic, and their callers add their own
//!   context (`notifier 'x': timeout: ...`, or the TOML position serde gives).
//!
//! Invariants: [`humantime::parse_duration`] is called here and nowhere else in the
//! engine; every function here is a pure function of its text.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// A duration as an operational config writes it: whatever [`humantime::parse_duration`]
/// accepts, untrimmed; the error is humantime's message.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| e.to_string())
}

/// [`parse_duration`] for a string field of a config file:
/// `#[serde(deserialize_with = "engine::duration::deserialize_duration")]`.
pub fn deserialize_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// [`deserialize_duration`] that keeps where the value was written (a TOML span), for
/// a config whose later checks point at the line:
/// `#[serde(deserialize_with = "engine::duration::deserialize_spanned_duration")]`.
pub fn deserialize_spanned_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Spanned<Duration>, D::Error> {
    let text = Spanned::<String>::deserialize(d)?;
    let span = text.span();
    let duration = parse_duration(text.get_ref()).map_err(serde::de::Error::custom)?;
    Ok(Spanned::new(span, duration))
}

/// Milliseconds of a rule file's duration text; zero is refused unless `allow_zero`.
pub fn parse_duration_ms(text: &str, allow_zero: bool) -> Result<i64, String> {
    let trimmed = text.trim();
    if trimmed == "0" && allow_zero {
        return Ok(0);
    }
    let d =
        parse_duration(trimmed).map_err(|e| format!("bad duration '{text}': {e} (write e.g. 30s, 1m, 5m, 1h, 1d)"))?;
    if d.subsec_nanos() % 1_000_000 != 0 {
        return Err(format!("bad duration '{text}': finer than a millisecond"));
    }
    let ms = i64::try_from(d.as_millis()).map_err(|_| format!("bad duration '{text}': too long"))?;
    if ms > 366 * 86_400_000 {
        return Err(format!("bad duration '{text}': longer than a year"));
    }
    if ms == 0 && !allow_zero {
        return Err(format!("bad duration '{text}': must be greater than zero"));
    }
    Ok(ms)
}

#[cfg(test)]
mod tests;
