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

/// The operational configs' parser is humantime's, as the sinks and the worker had it:
/// zero, sub-millisecond and very long durations load, and errors are humantime's text.
#[test]
fn config_durations_accept_what_humantime_reads() {
    for text in ["0", "0s", "250us", "1h 30m", "2years", "10y"] {
        assert_eq!(parse_duration(text), humantime::parse_duration(text).map_err(|e| e.to_string()), "{text}");
    }
    assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
    let refused = humantime::parse_duration("soon").unwrap_err().to_string();
    assert_eq!(parse_duration("soon"), Err(refused.clone()));

    #[derive(Debug, Deserialize)]
    struct Config {
        #[serde(deserialize_with = "deserialize_duration")]
        poll: Duration,
        #[serde(deserialize_with = "deserialize_spanned_duration")]
        flush: Spanned<Duration>,
    }
    let text = "poll = \"0s\"\nflush = \"1h 30m\"\n";
    let config: Config = toml::from_str(text).unwrap();
    assert_eq!(config.poll, Duration::ZERO);
    assert_eq!(*config.flush.get_ref(), Duration::from_secs(5_400));
    assert_eq!(&text[config.flush.span()], "\"1h 30m\"");
    let error = toml::from_str::<Config>("poll = \"soon\"\nflush = \"1s\"\n").unwrap_err().to_string();
    assert!(error.contains(&refused), "{error}");
}
