//! Durations as rule files write them: `30s`, `1m`, `5m`, `1h30m`, `500ms`, `1d`.

/// Milliseconds of a duration text; zero is refused unless `allow_zero`.
pub fn parse_duration_ms(text: &str, allow_zero: bool) -> Result<i64, String> {
    let trimmed = text.trim();
    if trimmed == "0" && allow_zero {
        return Ok(0);
    }
    let d = humantime::parse_duration(trimmed)
        .map_err(|e| format!("bad duration '{text}': {e} (write e.g. 30s, 1m, 5m, 1h, 1d)"))?;
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
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse_duration_ms("30s", false), Ok(30_000));
        assert_eq!(parse_duration_ms("1m", false), Ok(60_000));
        assert_eq!(parse_duration_ms("1h30m", false), Ok(5_400_000));
        assert_eq!(parse_duration_ms("500ms", false), Ok(500));
        assert_eq!(parse_duration_ms("1d", false), Ok(86_400_000));
        assert_eq!(parse_duration_ms("0s", true), Ok(0));
    }

    #[test]
    fn refuses_bad_and_zero() {
        assert!(parse_duration_ms("0s", false).unwrap_err().contains("greater than zero"));
        assert!(parse_duration_ms("5 minutes-ish", false).is_err());
        assert!(parse_duration_ms("", false).is_err());
        assert!(parse_duration_ms("10y", false).is_err());
    }
}
