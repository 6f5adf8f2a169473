use chrono::NaiveDate;

use super::*;

/// When the records of these tests arrived: 2026-11-27 12:00 UTC.
const RECEIVED_MS: i64 = 1_795_780_800_000;

fn ms(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, mo, d).unwrap().and_hms_opt(h, mi, s).unwrap().and_utc().timestamp_millis()
}

/// The per-thread cache of the last parse answers only its own parser and only the
/// same text: parsers that differ in their year or offset, taking turns on one text,
/// each get their own answer, and a new text is parsed anew.
#[test]
fn the_last_parse_cache_answers_only_the_same_parser_and_text() {
    let (y2025, y2026) = (
        TimeParser::new("%b %d %H:%M:%S", Some(2025), None).unwrap(),
        TimeParser::new("%b %d %H:%M:%S", Some(2026), None).unwrap(),
    );
    let (utc, plus_one) = (
        TimeParser::new(COMMON_LOG_FORMAT, None, None).unwrap(),
        TimeParser::new("%d/%b/%Y:%H:%M:%S", None, Some("+01:00")).unwrap(),
    );
    for _ in 0..2 {
        assert_eq!(y2025.parse("Jun  9 06:06:20", RECEIVED_MS), Some(ms(2025, 6, 9, 6, 6, 20)));
        assert_eq!(y2026.parse("Jun  9 06:06:20", RECEIVED_MS), Some(ms(2026, 6, 9, 6, 6, 20)));
        assert_eq!(y2026.parse("Jun  9 06:06:20", RECEIVED_MS), Some(ms(2026, 6, 9, 6, 6, 20)));
        assert_eq!(y2026.parse("Jun  9 06:06:21", RECEIVED_MS), Some(ms(2026, 6, 9, 6, 6, 21)));
        assert_eq!(y2026.clone().parse("Jun  9 06:06:21", RECEIVED_MS), Some(ms(2026, 6, 9, 6, 6, 21)));
        assert_eq!(y2026.parse("Jun  9 06:06:xx", RECEIVED_MS), None);
        assert_eq!(utc.parse("10/Oct/2000:13:55:36 +0000", RECEIVED_MS), Some(ms(2000, 10, 10, 13, 55, 36)));
        assert_eq!(utc.parse("10/Oct/2000:13:55:36 +0000 ", RECEIVED_MS), None);
        assert_eq!(plus_one.parse("10/Oct/2000:13:55:36", RECEIVED_MS), Some(ms(2000, 10, 10, 12, 55, 36)));
        assert_eq!(utc.parse("10/Oct/2000:13:55:36", RECEIVED_MS), None);
    }
    // Texts too long for the cache still parse.
    let long = TimeParser::new("%Y-%m-%d %H:%M:%S %:z padding that makes the text long", None, None).unwrap();
    let text = "2026-11-27 08:00:00 +00:00 padding that makes the text long";
    assert!(text.len() > CACHED_TEXT_BYTES);
    assert_eq!(long.parse(text, RECEIVED_MS), Some(ms(2026, 11, 27, 8, 0, 0)));
    assert_eq!(long.parse(text, RECEIVED_MS), Some(ms(2026, 11, 27, 8, 0, 0)));
}

#[test]
fn syslog_single_and_double_digit_days() {
    let p = TimeParser::new("%b %d %H:%M:%S", Some(2026), None).unwrap();
    assert_eq!(p.parse("Jun  9 06:06:20", RECEIVED_MS), Some(ms(2026, 6, 9, 6, 6, 20)));
    assert_eq!(p.parse("Dec 10 06:55:46", RECEIVED_MS), Some(ms(2026, 12, 10, 6, 55, 46)));
    assert_eq!(p.parse("Dec 32 06:55:46", RECEIVED_MS), None);
    assert_eq!(p.parse("garbage", RECEIVED_MS), None);
    assert_eq!(p.parse("", RECEIVED_MS), None);
}

proptest::proptest! {
    /// The hand-written common-log-format path gives exactly chrono's answer,
    /// for valid and invalid dates, times and offsets alike.
    #[test]
    fn common_log_fast_path_equals_chrono(
        day in 0u32..33, month in 0usize..13, year in 1960i32..2110, hour in 0u32..26,
        minute in 0u32..62, second in 0u32..62, minus: bool, off_h in 0u32..30, off_m in 0u32..70,
    ) {
        const MONTHS: [&str; 13] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Foo"];
        let sign = if minus { '-' } else { '+' };
        let text = format!("{day:02}/{}/{year}:{hour:02}:{minute:02}:{second:02} {sign}{off_h:02}{off_m:02}", MONTHS[month]);
        let fast = TimeParser::new(COMMON_LOG_FORMAT, None, None).unwrap();
        let TimeFormat::Strftime { items, year, offset, .. } = fast.format.clone() else { unreachable!() };
        let format = TimeFormat::Strftime { items, year, offset, common_log: false };
        let chrono_only = TimeParser { format, infers_year: false, id: NEXT_PARSER_ID.fetch_add(1, Ordering::Relaxed) };
        proptest::prop_assert_eq!(fast.parse(&text, RECEIVED_MS), chrono_only.parse(&text, RECEIVED_MS), "{}", text);
    }
}

#[test]
fn a_year_less_time_takes_the_latest_year_not_after_its_arrival() {
    let p = TimeParser::new("%b %d %H:%M:%S", None, None).unwrap();
    let arrived = |y, mo, d, h| ms(y, mo, d, h, 0, 0);
    // December's lines read in January: the old year. January's read on New Year's Eve
    // (a clock a little ahead): the new one. A replay of March's log in November: this year.
    assert_eq!(p.parse("Dec 31 23:59:59", arrived(2027, 1, 1, 0)), Some(ms(2026, 12, 31, 23, 59, 59)));
    assert_eq!(p.parse("Jan  1 00:00:05", arrived(2026, 12, 31, 23)), Some(ms(2027, 1, 1, 0, 0, 5)));
    assert_eq!(p.parse("Mar  3 10:00:00", arrived(2026, 11, 27, 12)), Some(ms(2026, 3, 3, 10, 0, 0)));
    // Up to a week ahead of arrival keeps the arrival's year; more is last year.
    assert_eq!(p.parse("Dec  3 00:00:00", arrived(2026, 11, 27, 0)), Some(ms(2026, 12, 3, 0, 0, 0)));
    assert_eq!(p.parse("Dec  5 00:00:00", arrived(2026, 11, 27, 0)), Some(ms(2025, 12, 5, 0, 0, 0)));
    // Feb 29 only in a leap year: 2028's, read in March 2028; none within reach in 2026.
    assert_eq!(p.parse("Feb 29 12:00:00", arrived(2028, 3, 1, 0)), Some(ms(2028, 2, 29, 12, 0, 0)));
    assert_eq!(p.parse("Feb 29 12:00:00", arrived(2026, 3, 1, 0)), None);
    // A configured year wins, and a format with a year ignores the arrival.
    let y2020 = TimeParser::new("%b %d %H:%M:%S", Some(2020), None).unwrap();
    assert_eq!(y2020.parse("Dec 31 23:59:59", arrived(2027, 1, 1, 0)), Some(ms(2020, 12, 31, 23, 59, 59)));
    let with_year = TimeParser::new("%Y %b %d %H:%M:%S", None, None).unwrap();
    assert_eq!(with_year.parse("2024 Dec 31 23:59:59", arrived(2027, 1, 1, 0)), Some(ms(2024, 12, 31, 23, 59, 59)));
}

/// The parse cache answers a year-less text again only while its arrival gives the
/// same year: the same text, arriving across New Year, is parsed anew.
#[test]
fn the_parse_cache_follows_the_arrival_year() {
    let p = TimeParser::new("%b %d %H:%M:%S", None, None).unwrap();
    let text = "Dec 30 12:00:00";
    assert_eq!(p.parse(text, ms(2026, 12, 30, 13, 0, 0)), Some(ms(2026, 12, 30, 12, 0, 0)));
    assert_eq!(p.parse(text, ms(2026, 12, 31, 0, 0, 0)), Some(ms(2026, 12, 30, 12, 0, 0)));
    // A year on, the same text (nothing else parsed in between) is next year's.
    assert_eq!(p.parse(text, ms(2027, 12, 30, 13, 0, 0)), Some(ms(2027, 12, 30, 12, 0, 0)));
    // And arriving long before it, last year's.
    assert_eq!(p.parse(text, ms(2027, 6, 1, 0, 0, 0)), Some(ms(2026, 12, 30, 12, 0, 0)));
    // A week number and weekday recur after 364 days: week 10's Monday is 2026-03-09
    // and 2027-03-08. Arriving on 2027-03-01 at midnight it is 2026's; twelve hours
    // later 2027's is within the week of skew, and the cached 2026 must not answer.
    let weekly = TimeParser::new("%W %a %H:%M:%S", None, None).unwrap();
    assert_eq!(weekly.parse("10 Mon 12:00:00", ms(2027, 3, 1, 0, 0, 0)), Some(ms(2026, 3, 9, 12, 0, 0)));
    assert_eq!(weekly.parse("10 Mon 12:00:00", ms(2027, 3, 1, 12, 0, 0)), Some(ms(2027, 3, 8, 12, 0, 0)));
}

#[test]
fn apache_and_clf_formats() {
    let p = TimeParser::new("%a %b %d %H:%M:%S %Y", None, None).unwrap();
    assert_eq!(p.parse("Sun Dec 04 04:47:44 2005", RECEIVED_MS), Some(ms(2005, 12, 4, 4, 47, 44)));
    // Wrong weekday for the date: refused, not guessed.
    assert_eq!(p.parse("Mon Dec 04 04:47:44 2005", RECEIVED_MS), None);
    let p = TimeParser::new("%d/%b/%Y:%H:%M:%S %z", None, Some("+08:00")).unwrap();
    // The text's own offset wins over the configured one.
    assert_eq!(p.parse("10/Oct/2000:13:55:36 -0700", RECEIVED_MS), Some(ms(2000, 10, 10, 20, 55, 36)));
}

#[test]
fn configured_offset_applies_without_percent_z() {
    let utc = TimeParser::new("%Y-%m-%d %H:%M:%S", None, None).unwrap();
    let plus7 = TimeParser::new("%Y-%m-%d %H:%M:%S", None, Some("+07:00")).unwrap();
    let minus7 = TimeParser::new("%Y-%m-%d %H:%M:%S", None, Some("-0700")).unwrap();
    let z = TimeParser::new("%Y-%m-%d %H:%M:%S", None, Some("Z")).unwrap();
    let u = TimeParser::new("%Y-%m-%d %H:%M:%S", None, Some("UTC")).unwrap();
    let t = "2026-01-02 03:04:05";
    let base = ms(2026, 1, 2, 3, 4, 5);
    assert_eq!(utc.parse(t, RECEIVED_MS), Some(base));
    assert_eq!(z.parse(t, RECEIVED_MS), Some(base));
    assert_eq!(u.parse(t, RECEIVED_MS), Some(base));
    assert_eq!(plus7.parse(t, RECEIVED_MS), Some(base - 7 * 3_600_000));
    assert_eq!(minus7.parse(t, RECEIVED_MS), Some(base + 7 * 3_600_000));
    let short = TimeParser::new("%Y-%m-%d %H:%M:%S", None, Some("+07")).map(|p| p.parse(t, RECEIVED_MS));
    assert_eq!(short, Ok(Some(base - 7 * 3_600_000)));
}

#[test]
fn fractions_dates_and_timestamps() {
    let p = TimeParser::new("%Y-%m-%dT%H:%M:%S%.f", None, None).unwrap();
    assert_eq!(p.parse("2026-01-02T03:04:05.678", RECEIVED_MS), Some(ms(2026, 1, 2, 3, 4, 5) + 678));
    let p = TimeParser::new("%Y-%m-%d", None, None).unwrap();
    assert_eq!(p.parse("2026-01-02", RECEIVED_MS), Some(ms(2026, 1, 2, 0, 0, 0)));
    let p = TimeParser::new("%s", None, Some("+05:00")).unwrap();
    assert_eq!(p.parse("1700000000", RECEIVED_MS), Some(1_700_000_000_000));
}

#[test]
fn special_formats() {
    let p = TimeParser::new("rfc3339", None, None).unwrap();
    assert_eq!(p.parse("2000-10-10T13:55:36-07:00", RECEIVED_MS), Some(ms(2000, 10, 10, 20, 55, 36)));
    assert_eq!(p.parse("2000-10-10T13:55:36.250Z", RECEIVED_MS), Some(ms(2000, 10, 10, 13, 55, 36) + 250));
    assert_eq!(p.parse("2000-10-10 13:55:36", RECEIVED_MS), None);
    let p = TimeParser::new("unix", None, None).unwrap();
    assert_eq!(p.parse("1700000000", RECEIVED_MS), Some(1_700_000_000_000));
    assert_eq!(p.parse("1700000000.123", RECEIVED_MS), Some(1_700_000_000_123));
    assert_eq!(p.parse("1700000000.1239", RECEIVED_MS), Some(1_700_000_000_123));
    assert_eq!(p.parse(" 1.7e9 ", RECEIVED_MS), Some(1_700_000_000_000));
    assert_eq!(p.parse("-1.5", RECEIVED_MS), Some(-1500));
    assert_eq!(p.parse("99999999999999999999", RECEIVED_MS), None);
    assert_eq!(p.parse("1e300", RECEIVED_MS), None);
    assert_eq!(p.parse("inf", RECEIVED_MS), None);
    assert_eq!(p.parse("NaN", RECEIVED_MS), None);
    assert_eq!(p.parse(".", RECEIVED_MS), None);
    assert_eq!(p.parse("-", RECEIVED_MS), None);
    assert_eq!(p.parse("", RECEIVED_MS), None);
    let p = TimeParser::new("unix_ms", None, None).unwrap();
    assert_eq!(p.parse("1700000000123", RECEIVED_MS), Some(1_700_000_000_123));
    assert_eq!(p.parse("1700000000123.9", RECEIVED_MS), Some(1_700_000_000_123));
    assert_eq!(p.parse("abc", RECEIVED_MS), None);
}
