use chrono::NaiveDate;

use super::*;

/// When the records of these tests arrived: 2026-11-27 12:00 UTC.
const RECEIVED_MS: i64 = 1_795_780_800_000;

fn ms(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, mo, d).unwrap().and_hms_opt(h, mi, s).unwrap().and_utc().timestamp_millis()
}

#[test]
fn config_errors_name_the_setting() {
    assert_eq!(TimeParser::new("%Q %d", None, None).unwrap_err().field.as_str(), "format");
    assert_eq!(TimeParser::new("%H:%M:%S", None, None).unwrap_err().field.as_str(), "format");
    assert_eq!(TimeParser::new("", None, None).unwrap_err().field.as_str(), "format");
    assert_eq!(TimeParser::new("%Y-%m-%d", None, Some("Mars/Olympus")).unwrap_err().field.as_str(), "tz");
    assert_eq!(TimeParser::new("%b %d", Some(0), None).unwrap_err().field.as_str(), "year");
    let e = TimeExtractor::new("^(\\d+", "unix", None, None).unwrap_err();
    assert_eq!(e.field.as_str(), "time.regex");
    assert_eq!(TimeExtractor::new("^\\d+", "unix", None, None).unwrap_err().field.as_str(), "time.regex");
    assert_eq!(TimeExtractor::new("^(\\d+) (\\d+)", "unix", None, None).unwrap_err().field.as_str(), "time.regex");
    assert_eq!(TimeExtractor::new("^(\\d+)", "%Q", None, None).unwrap_err().field.as_str(), "time.format");
    assert_eq!(TimeExtractor::new("^(\\d+)", "unix", None, Some("x")).unwrap_err().field.as_str(), "time.tz");
    assert_eq!(TimeExtractor::new("^(\\d+)", "%b %d", Some(-3), None).unwrap_err().field.as_str(), "time.year");
    assert_eq!(HostExtractor::new("^\\S+").unwrap_err().field.as_str(), "host.regex");
    assert_eq!(HostExtractor::new("(").unwrap_err().field.as_str(), "host.regex");
    let deep = format!("{}a{}", "(".repeat(200), ")".repeat(200));
    assert_eq!(HostExtractor::new(&deep).unwrap_err().field.as_str(), "host.regex");
    // Too big for the NFA size limit.
    assert_eq!(HostExtractor::new("(\\w{1000}){1000}").unwrap_err().field.as_str(), "host.regex");
    let e = ConfigError::new(ConfigField::TimeRegex, "bad");
    assert_eq!(e.to_string(), "time.regex: bad");
}

#[test]
fn raw_decoder_sshd_line() {
    let time =
        TimeExtractor::new(r"^(\w{3} +\d+ \d\d:\d\d:\d\d)", "%b %d %H:%M:%S", Some(2026), Some("+00:00")).unwrap();
    let host = HostExtractor::new(r"^\w{3} +\d+ \d\d:\d\d:\d\d (\S+)").unwrap();
    let d = RawDecoder::new(Some(time), Some(host));
    let line = "Jun  9 06:06:20 combo sshd(pam_unix)[19939]: authentication failure";
    let ev = d.decode(line, RECEIVED_MS).unwrap();
    assert_eq!(ev.time_ms, Some(ms(2026, 6, 9, 6, 6, 20)));
    assert_eq!(ev.host.as_deref(), Some("combo"));
    assert_eq!(ev.text, line);
    assert!(ev.fields.is_empty());
    assert!(matches!(ev.text, Cow::Borrowed(_)));

    let err = d.decode("no time here", RECEIVED_MS).unwrap_err();
    assert_eq!(err.reason, ErrorReason::Time);
    let err = d.decode("Jun 99 06:06:20 host x", RECEIVED_MS).unwrap_err();
    assert_eq!(err.reason, ErrorReason::Time);
    assert!(err.detail.contains("Jun 99"), "{}", err.detail);
}

#[test]
fn raw_decoder_without_extractors() {
    let d = RawDecoder::new(None, None);
    let ev = d.decode("anything", RECEIVED_MS).unwrap();
    assert_eq!(ev.time_ms, None);
    assert_eq!(ev.host, None);
    assert_eq!(ev.text, "anything");
}

#[test]
fn host_named_group_and_misses() {
    let h = HostExtractor::new(r"^(\d+) (?P<host>\S+)").unwrap();
    assert_eq!(h.extract("12 web-1 rest"), Some("web-1"));
    assert_eq!(h.extract("no digits"), None);
    let h = HostExtractor::new(r"host=(\S*)").unwrap();
    assert_eq!(h.extract("a host= b"), None);
    assert_eq!(h.extract("a host=db-2 b"), Some("db-2"));
    let h = HostExtractor::new(r"(x)?host=(?P<host>\S+)").unwrap();
    assert_eq!(h.extract("host=h"), Some("h"));
    // Many groups before the host group: slots spill to the heap.
    let many = format!("{}(?P<host>h\\d)", "(a)?".repeat(40));
    let h = HostExtractor::new(&many).unwrap();
    assert_eq!(h.extract("xx h7"), Some("h7"));
}

#[test]
fn decode_detail_is_short() {
    let t = TimeExtractor::new("^(.*)$", "%Y-%m-%d", None, None).unwrap();
    let long = "x".repeat(10_000);
    let e = t.try_extract(&long, RECEIVED_MS).unwrap_err();
    assert!(e.detail.len() < 300);
}
