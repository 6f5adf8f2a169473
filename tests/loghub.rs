//! Ground-truth tests of `logpulse replay` on real, labelled system logs.
//!
//! The corpus is a sample of the Loghub collection (Jieming Zhu, Shilin He, Pinjia He,
//! Jinyang Liu, Michael R. Lyu, "Loghub: A Large Collection of System Log Datasets for
//! AI-driven Log Analytics", ISSRE 2023), <https://github.com/logpai/loghub>; see its
//! README.md and LICENSE there (and `shared/corpora/loghub/LICENSE` beside this repository):
//! free for research and academic work, citing the repository. For each system,
//! `X_2k.log` holds 2,000 raw lines and `X_2k.log_structured.csv` gives, line for line,
//! the parsed header columns, the message (`Content`), an `EventId` and the
//! `EventTemplate` (`<*>` = a variable part).
//!
//! What is checked, per corpus (OpenSSH, Apache error log, Linux syslog):
//!
//! - The test writes a rule file: one raw `[[stream]]` whose `time`, `host` and
//!   `lateness` fit that log, and one `[[rule]]` per EventId (`e13`, ...) whose `regex`
//!   is the template made exact: the literal parts escaped, each `<*>` turned into
//!   `\S+` (or `\S*`, or a lazy `.*?` only where that variable contains blanks in
//!   the data), anchored after the line's header and at the end of the line.
//! - Every line matches its own template's rule; the rule regex on the raw line and
//!   the bare template regex on the `Content` column agree on every line (so the
//!   header anchoring is right).
//! - `logpulse replay` (the compiled one-pass matcher) equals per-rule evaluation with
//!   the `regex` crate: for every rule, its count per (1-minute window, host) is
//!   exactly the number of lines that rule's regex matches, with no extra rows.
//! - For every template whose regex matches no line of another template (on these
//!   corpora: all of them), logpulse's counts equal the Loghub labels exactly. The
//!   templates excluded for overlap are printed and bounded.
//! - Windows and hosts of the ground truth come from the CSV's own time and host
//!   columns, converted to Unix time independently of chrono (and of logpulse), in
//!   the stream's configured offset.
//!
//! Plus: `count_repeats` on OpenSSH (IPv4 addresses, a `match` literal, a regex with
//! a named capture used as the group key) against `find_iter().count()` per window,
//! and the Apache log replayed as 10,000 lines (five copies, 28 years apart so that
//! weekdays still agree), long enough that replay closes windows mid-input.
//!
//! Set `LOGHUB_KEEP_RULES=DIR` to keep the generated rule files (`DIR/<stream>.toml`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

use regex::Regex;

mod common;

const CORPUS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpora/loghub/");
const WINDOW_SECS: i64 = 60;

// ---------------------------------------------------------------------------
// Calendar arithmetic, independent of chrono and of logpulse.

/// Local calendar time as a log line writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Civil {
    /// Unix seconds of this local time at a fixed offset east of UTC.
    fn unix_secs(&self, offset_secs: i64) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour) * 3_600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - offset_secs
    }

    /// 0 = Sunday.
    fn weekday(&self) -> i64 {
        (days_from_civil(self.year, self.month, self.day) + 4).rem_euclid(7)
    }
}

fn month_number(name: &str) -> u32 {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    MONTHS.iter().position(|m| *m == name).unwrap_or_else(|| panic!("unknown month {name:?}")) as u32 + 1
}

fn parse_hms(text: &str) -> (u32, u32, u32) {
    let parts: Vec<u32> =
        text.split(':').map(|p| p.parse().unwrap_or_else(|_| panic!("bad time of day {text:?}"))).collect();
    assert_eq!(parts.len(), 3, "bad time of day {text:?}");
    (parts[0], parts[1], parts[2])
}

fn window_start(ts_secs: i64) -> i64 {
    ts_secs.div_euclid(WINDOW_SECS) * WINDOW_SECS
}

// ---------------------------------------------------------------------------
// The corpora.

/// One line of a corpus with its label.
#[derive(Debug, Clone)]
struct Labelled {
    /// 1-based line number in the file (= LineId).
    line_no: usize,
    /// The raw line, without its line ending.
    raw: String,
    /// The message part, as the CSV gives it.
    content: String,
    event_id: String,
    template: String,
    /// Local time, from the CSV's time columns.
    local: Civil,
    /// The host, from the CSV (or the stream's fixed host).
    host: String,
}

/// One CSV row, by column name.
struct Row<'a> {
    headers: &'a csv::StringRecord,
    record: &'a csv::StringRecord,
}

impl Row<'_> {
    fn get(&self, column: &str) -> &str {
        let i = self.headers.iter().position(|h| h == column).unwrap_or_else(|| panic!("no CSV column {column:?}"));
        &self.record[i]
    }
}

struct Corpus {
    /// File stem: `OpenSSH` for `OpenSSH_2k.log`.
    name: &'static str,
    stream: &'static str,
    /// The `[[stream]]` table (without rules).
    stream_toml: String,
    /// Regex of everything before the message, anchored at the start of the line.
    header: &'static str,
    /// The stream's `tz`, in seconds east of UTC.
    offset_secs: i64,
    /// The stream's `lateness`, in seconds.
    lateness_secs: i64,
    /// Local time and host of a CSV row.
    label: fn(&Row<'_>) -> (Civil, String),
    /// How many templates may be left out of the label comparison because their
    /// regexes overlap on this corpus (each is still checked against per-rule evaluation).
    max_excluded: usize,
}

const SSH_YEAR: i64 = 2015;
const LINUX_YEAR: i64 = 2005;
const APACHE_HOST: &str = "apache-1";

fn syslog_stream(name: &str, year: i64, tz: &str, lateness: &str) -> String {
    format!(
        r#"[[stream]]
name = "{name}"
format = "raw"
time = {{ regex = '^(\w{{3}} +\d+ \d\d:\d\d:\d\d)', format = "%b %d %H:%M:%S", year = {year}, tz = "{tz}" }}
host = {{ regex = '^\w{{3}} +\d+ \d\d:\d\d:\d\d (\S+)' }}
lateness = "{lateness}"
"#
    )
}

fn openssh() -> Corpus {
    Corpus {
        name: "OpenSSH",
        stream: "sshd",
        stream_toml: syslog_stream("sshd", SSH_YEAR, "+08:00", "30s"),
        header: r"^\w{3} +\d+ \d\d:\d\d:\d\d \S+ sshd\[\d+\]: ",
        offset_secs: 8 * 3600,
        lateness_secs: 30,
        // Columns: LineId,Date,Day,Time,Component,Pid,Content,EventId,EventTemplate
        // (Loghub calls the month `Date`, the day `Day` and the host `Component`).
        label: |row| {
            let (hour, minute, second) = parse_hms(row.get("Time"));
            let local = Civil {
                year: SSH_YEAR,
                month: month_number(row.get("Date")),
                day: row.get("Day").parse().expect("day"),
                hour,
                minute,
                second,
            };
            (local, row.get("Component").to_string())
        },
        max_excluded: 0,
    }
}

fn apache() -> Corpus {
    Corpus {
        name: "Apache",
        stream: "apache_error",
        stream_toml: format!(
            r#"[[stream]]
name = "apache_error"
format = "raw"
time = {{ regex = '^\[(\w{{3}} \w{{3}} \d\d \d\d:\d\d:\d\d \d{{4}})\]', format = "%a %b %d %H:%M:%S %Y", tz = "-05:00" }}
host = "{APACHE_HOST}"
lateness = "30s"
"#
        ),
        header: r"^\[\w{3} \w{3} \d\d \d\d:\d\d:\d\d \d{4}\] \[\w+\] ",
        offset_secs: -5 * 3600,
        lateness_secs: 30,
        // Columns: LineId,Time,Level,Content,EventId,EventTemplate; Time = `Sun Dec 04 04:47:44 2005`.
        label: |row| {
            let time = row.get("Time");
            let parts: Vec<&str> = time.split_whitespace().collect();
            assert_eq!(parts.len(), 5, "bad Apache time {time:?}");
            let (hour, minute, second) = parse_hms(parts[3]);
            let local = Civil {
                year: parts[4].parse().expect("year"),
                month: month_number(parts[1]),
                day: parts[2].parse().expect("day"),
                hour,
                minute,
                second,
            };
            let weekday = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][local.weekday() as usize];
            assert_eq!(parts[0], weekday, "weekday of {time:?}");
            (local, APACHE_HOST.to_string())
        },
        max_excluded: 0,
    }
}

fn linux() -> Corpus {
    Corpus {
        name: "Linux",
        stream: "linux_syslog",
        stream_toml: syslog_stream("linux_syslog", LINUX_YEAR, "-04:00", "30s"),
        // `combo sshd(pam_unix)[19939]: `, `combo kernel: `, `combo syslogd 1.4.1: `, `combo  -- root[2421]: `;
        // the message may start after more than one blank.
        header: r"^\w{3} +\d+ \d\d:\d\d:\d\d \S+ +[^:\[]*(?:\[\d+\])?: *",
        offset_secs: -4 * 3600,
        lateness_secs: 30,
        // Columns: LineId,Month,Date,Time,Level,Component,PID,Content,EventId,EventTemplate
        // (Loghub calls the host `Level`).
        label: |row| {
            let (hour, minute, second) = parse_hms(row.get("Time"));
            let local = Civil {
                year: LINUX_YEAR,
                month: month_number(row.get("Month")),
                day: row.get("Date").parse().expect("day"),
                hour,
                minute,
                second,
            };
            (local, row.get("Level").to_string())
        },
        max_excluded: 0,
    }
}

fn corpus_path(file: &str) -> PathBuf {
    Path::new(CORPUS_DIR).join(file)
}

/// The raw lines of a log, without `\n` or `\r\n` (the Loghub files use CRLF).
fn read_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut lines: Vec<String> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l).to_string()).collect();
    if text.ends_with('\n') {
        lines.pop();
    }
    lines
}

/// Every line of the corpus with its label, checking that log and CSV line up.
fn load(corpus: &Corpus) -> Vec<Labelled> {
    let log_path = corpus_path(&format!("{}_2k.log", corpus.name));
    let csv_path = corpus_path(&format!("{}_2k.log_structured.csv", corpus.name));
    let lines = read_lines(&log_path);
    let mut reader =
        csv::Reader::from_path(&csv_path).unwrap_or_else(|e| panic!("reading {}: {e}", csv_path.display()));
    let headers = reader.headers().expect("CSV header").clone();
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.unwrap_or_else(|e| panic!("{}: {e}", csv_path.display()));
        let row = Row { headers: &headers, record: &record };
        let line_no = i + 1;
        assert_eq!(row.get("LineId"), line_no.to_string(), "{}: LineId out of step", csv_path.display());
        let raw = lines.get(i).unwrap_or_else(|| panic!("{} has fewer lines than its CSV", log_path.display()));
        let content = row.get("Content").to_string();
        assert!(
            raw.trim_end().ends_with(content.as_str()),
            "{}:{line_no}: raw line {raw:?} does not end with its Content {content:?}",
            log_path.display()
        );
        let (local, host) = (corpus.label)(&row);
        out.push(Labelled {
            line_no,
            raw: raw.clone(),
            content,
            event_id: row.get("EventId").to_string(),
            template: row.get("EventTemplate").to_string(),
            local,
            host,
        });
    }
    assert_eq!(out.len(), lines.len(), "{}: CSV and log differ in length", corpus.name);
    assert_eq!(out.len(), 2000, "{}: expected the 2k sample", corpus.name);
    out
}

// ---------------------------------------------------------------------------
// Templates to regexes.

/// `E13` -> `e13` (rule names are `[a-z0-9_]+`).
fn rule_name(event_id: &str) -> String {
    let name = event_id.to_ascii_lowercase();
    assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{event_id}");
    name
}

/// The message-part regex of a template, as precise as the data allows: each `<*>`
/// becomes `\S+`, or `\S*` if that variable is sometimes empty, or `.*?` if it
/// sometimes contains blanks. Which variable is which is read from the labelled
/// lines through a probe regex with one lazy group per `<*>`.
fn template_body(template: &str, contents: &[&str]) -> String {
    let literals: Vec<&str> = template.split("<*>").collect();
    let probe_src = format!("^{}$", literals.iter().map(|l| regex::escape(l)).collect::<Vec<_>>().join("(.*?)"));
    let probe = Regex::new(&probe_src).expect("probe regex");
    let holes = literals.len() - 1;
    let mut blank = vec![false; holes];
    let mut empty = vec![false; holes];
    for content in contents {
        let caps = probe
            .captures(content)
            .unwrap_or_else(|| panic!("Loghub content {content:?} does not fit its own template {template:?}"));
        for i in 0..holes {
            let text = caps.get(i + 1).map_or("", |m| m.as_str());
            empty[i] |= text.is_empty();
            blank[i] |= text.chars().any(char::is_whitespace);
        }
    }
    let mut body = String::new();
    for (i, literal) in literals.iter().enumerate() {
        body.push_str(&regex::escape(literal));
        if i < holes {
            body.push_str(if blank[i] {
                ".*?"
            } else if empty[i] {
                r"\S*"
            } else {
                r"\S+"
            });
        }
    }
    body
}

/// One generated rule per template.
struct TemplateRule {
    event_id: String,
    name: String,
    template: String,
    /// The message-part regex.
    body: String,
    /// `^(?:body)$`, for the Content column.
    content_regex: Regex,
    /// The rule's `regex` as written to the rule file: header + body + end of line.
    line_src: String,
    line_regex: Regex,
}

fn template_rules(corpus: &Corpus, lines: &[Labelled]) -> Vec<TemplateRule> {
    let mut by_event: BTreeMap<(usize, String), (String, Vec<&str>)> = BTreeMap::new();
    for l in lines {
        let number: usize = l.event_id.trim_start_matches('E').parse().expect("EventId like E13");
        let entry = by_event.entry((number, l.event_id.clone())).or_insert_with(|| (l.template.clone(), Vec::new()));
        assert_eq!(entry.0, l.template, "{} has two templates", l.event_id);
        entry.1.push(&l.content);
    }
    by_event
        .into_iter()
        .map(|((_, event_id), (template, contents))| {
            let body = template_body(&template, &contents);
            // The raw line may carry blanks after the message that Content trims.
            let line_src = format!(r"{}(?:{body})\s*$", corpus.header);
            TemplateRule {
                name: rule_name(&event_id),
                content_regex: Regex::new(&format!("^(?:{body})$")).expect("content regex"),
                line_regex: Regex::new(&line_src).expect("line regex"),
                event_id,
                template,
                body,
                line_src,
            }
        })
        .collect()
}

/// A TOML basic string (`"..."`) holding `s` exactly.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => write!(out, "\\u{:04X}", c as u32).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn rules_toml(corpus: &Corpus, rules: &[TemplateRule]) -> String {
    let mut text = format!("# Generated by tests/loghub.rs from {}_2k.log_structured.csv\n\n", corpus.name);
    text.push_str(&corpus.stream_toml);
    for r in rules {
        writeln!(text, "\n# {}: {}", r.event_id, r.template.replace('\n', " ")).unwrap();
        writeln!(text, "[[rule]]\nname = \"{}\"\nstream = \"{}\"", r.name, corpus.stream).unwrap();
        writeln!(text, "regex = {}\nwindow = \"1m\"", toml_string(&r.line_src)).unwrap();
    }
    text
}

// ---------------------------------------------------------------------------
// Running logpulse and reading its CSV.

/// (rule, window_start in Unix seconds, host, key)
type Key = (String, i64, String, String);

struct Replay {
    /// Rows with a count above zero.
    counts: BTreeMap<Key, u64>,
    /// Rows with a count of zero (windows closed without data), if the engine emits them.
    zero_rows: Vec<Key>,
    stderr: String,
}

fn rfc3339_secs(text: &str) -> i64 {
    static SHAPE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").unwrap());
    assert!(SHAPE.is_match(text), "timestamp {text:?} is not RFC 3339 UTC like 2026-11-26T10:15:00Z");
    let t = chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("timestamp {text:?}: {e}"));
    t.timestamp()
}

/// Runs `logpulse replay`; `label` names the run in messages (and the kept rule file).
fn replay(label: &str, rules_text: &str, stream: &str, input: &Path) -> Replay {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules_path = dir.path().join("rules.toml");
    std::fs::write(&rules_path, rules_text).expect("writing rules");
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_logpulse"))
        .arg("replay")
        .arg("-r")
        .arg(&rules_path)
        .arg("-s")
        .arg(stream)
        .arg("--host")
        .arg("not-this-host")
        .arg("--out")
        .arg(dir.path().join("data"))
        .arg(input)
        .output()
        .expect("running logpulse");
    let elapsed = started.elapsed();
    println!("{label}: logpulse replay -s {stream} {}: {:.2}s", input.display(), elapsed.as_secs_f64());
    if let Ok(dump) = std::env::var("LOGHUB_KEEP_RULES") {
        std::fs::write(Path::new(&dump).join(format!("{label}.toml")), rules_text).expect("LOGHUB_KEEP_RULES");
    }
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "logpulse replay failed ({}):\n{stderr}\nrules:\n{rules_text}", output.status);
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    let headers = reader.headers().expect("replay CSV header").clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        ["rule", "window_start", "window_end", "host", "key", "count", "sum", "min", "max"],
        "replay CSV header"
    );
    let mut counts = BTreeMap::new();
    let mut zero_rows = Vec::new();
    let mut previous: Option<(String, i64, String, String)> = None;
    let mut totals = common::Totals::new();
    let mut rows = 0;
    for record in reader.records() {
        let record = record.expect("replay CSV row");
        rows += 1;
        let start = rfc3339_secs(&record[1]);
        let end = rfc3339_secs(&record[2]);
        assert_eq!(end - start, WINDOW_SECS, "window width in row {record:?}");
        assert_eq!(start.rem_euclid(WINDOW_SECS), 0, "window alignment in row {record:?}");
        // Counting rules only: no value, so sum, min and max are null (empty).
        assert!(
            record[6].is_empty() && record[7].is_empty() && record[8].is_empty(),
            "sum/min/max of a counting rule: {record:?}"
        );
        let count: u64 = record[5].parse().unwrap_or_else(|e| panic!("count in {record:?}: {e}"));
        totals.entry(record[0].to_string()).or_insert((0, None)).0 += count;
        let key: Key = (record[0].to_string(), start, record[3].to_string(), record[4].to_string());
        if let Some(prev) = &previous {
            assert!(
                prev < &key,
                "rows not sorted by rule, window_start, host, key (or not merged): {prev:?} then {key:?}"
            );
        }
        previous = Some(key.clone());
        if count == 0 {
            zero_rows.push(key);
        } else {
            counts.insert(key, count);
        }
    }
    // What `--out` stored reads back the same through logpulse sql and DuckDB.
    common::assert_stored_totals(&dir.path().join("data"), &totals, rows);
    Replay { counts, zero_rows, stderr }
}

fn show(key: &Key) -> String {
    let start = chrono::DateTime::from_timestamp(key.1, 0).map_or(key.1.to_string(), |t| t.to_rfc3339());
    format!("rule={} window_start={start} host={:?} key={:?}", key.0, key.2, key.3)
}

/// Asserts that logpulse's rows equal `expected` exactly, restricted to `rules`:
/// the same keys (no missing, no extra rows) and the same counts.
fn assert_counts_equal(
    what: &str,
    expected: &BTreeMap<Key, u64>,
    actual: &BTreeMap<Key, u64>,
    rules: &BTreeSet<String>,
) {
    let actual: BTreeMap<&Key, u64> =
        actual.iter().filter(|(k, _)| rules.contains(&k.0)).map(|(k, v)| (k, *v)).collect();
    let keys: BTreeSet<&Key> = expected.keys().chain(actual.keys().copied()).collect();
    let mut diffs = Vec::new();
    for key in keys {
        let e = expected.get(key).copied().unwrap_or(0);
        let a = actual.get(key).copied().unwrap_or(0);
        if e != a {
            diffs.push(format!("  {}: expected {e}, logpulse {a}", show(key)));
        }
    }
    assert!(
        diffs.is_empty(),
        "{what}: {} of {} (rule, window, host, key) cells differ:\n{}",
        diffs.len(),
        expected.len(),
        diffs.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// Zero-count rows are allowed only as closed windows without data between a rule's
/// first window and the end of the input (DESIGN.md: every window period the
/// watermark passes closes, from the rule's first event on); never for unknown rules.
fn check_zero_rows(what: &str, replay: &Replay, expected: &BTreeMap<Key, u64>, newest_secs: i64) {
    let last_start = window_start(newest_secs);
    for key in &replay.zero_rows {
        let first = expected.keys().filter(|k| k.0 == key.0).map(|k| k.1).min();
        let first = first.unwrap_or_else(|| panic!("{what}: zero-count row for a rule with no data: {key:?}"));
        assert!(
            key.1 >= first && key.1 <= last_start,
            "{what}: zero-count row outside the rule's data span [{first}, {last_start}]: {key:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// The template check.

struct TemplateReport {
    lines: usize,
    templates: usize,
    label_checked: usize,
    excluded: Vec<String>,
    cells: usize,
    windows: usize,
    zero_rows: usize,
}

/// Largest lag of a line's time behind the newest time before it, in seconds.
fn max_lag(times: &[i64]) -> i64 {
    let mut newest = i64::MIN;
    let mut lag = 0;
    for &t in times {
        newest = newest.max(t);
        lag = lag.max(newest - t);
    }
    lag
}

fn check_templates(label: &str, corpus: &Corpus, lines: &[Labelled], input: &Path) -> TemplateReport {
    let name = label;
    let rules = template_rules(corpus, lines);
    let rule_index: BTreeMap<&str, usize> = rules.iter().enumerate().map(|(i, r)| (r.event_id.as_str(), i)).collect();
    let times: Vec<i64> = lines.iter().map(|l| l.local.unix_secs(corpus.offset_secs)).collect();
    let lag = max_lag(&times);
    assert!(
        lag < corpus.lateness_secs,
        "{name}: lines arrive up to {lag}s out of order; the stream's lateness ({}s) must cover that",
        corpus.lateness_secs
    );

    // Which rules match which line, two ways: the rule regex on the raw line, and the
    // bare template regex on the CSV's Content.
    let mut by_line: Vec<Vec<usize>> = Vec::with_capacity(lines.len());
    let mut header_mismatch = Vec::new();
    let mut own_miss = Vec::new();
    for l in lines {
        let on_line: Vec<usize> = (0..rules.len()).filter(|&i| rules[i].line_regex.is_match(&l.raw)).collect();
        let on_content: Vec<usize> =
            (0..rules.len()).filter(|&i| rules[i].content_regex.is_match(&l.content)).collect();
        if on_line != on_content {
            header_mismatch.push(format!("  line {}: {:?} vs {:?}: {:?}", l.line_no, on_line, on_content, l.raw));
        }
        if !on_line.contains(&rule_index[l.event_id.as_str()]) {
            own_miss.push(format!("  line {} ({}): {:?}", l.line_no, l.event_id, l.raw));
        }
        by_line.push(on_line);
    }
    assert!(
        header_mismatch.is_empty(),
        "{name}: rule regexes on raw lines and on Content disagree on {} lines:\n{}",
        header_mismatch.len(),
        header_mismatch[..header_mismatch.len().min(30)].join("\n")
    );
    assert!(
        own_miss.is_empty(),
        "{name}: {} lines not matched by their own template's rule:\n{}",
        own_miss.len(),
        own_miss[..own_miss.len().min(30)].join("\n")
    );

    // Templates that overlap on this corpus: a line of one matches the other's rule.
    let mut overlapping: BTreeSet<usize> = BTreeSet::new();
    for (l, matched) in lines.iter().zip(&by_line) {
        let own = rule_index[l.event_id.as_str()];
        if matched.len() > 1 {
            overlapping.extend(matched.iter().copied());
            overlapping.insert(own);
        }
    }
    let excluded: Vec<String> = overlapping
        .iter()
        .map(|&i| format!("{} {:?} /{}/", rules[i].event_id, rules[i].template, rules[i].body))
        .collect();

    // Ground truth 1: per-rule evaluation (regex crate), every rule.
    let mut by_regex: BTreeMap<Key, u64> = BTreeMap::new();
    // Ground truth 2: the labels, per template.
    let mut by_label: BTreeMap<Key, u64> = BTreeMap::new();
    for ((l, matched), &ts) in lines.iter().zip(&by_line).zip(&times) {
        let w = window_start(ts);
        for &i in matched {
            *by_regex.entry((rules[i].name.clone(), w, l.host.clone(), String::new())).or_default() += 1;
        }
        *by_label.entry((rule_name(&l.event_id), w, l.host.clone(), String::new())).or_default() += 1;
    }

    let rules_text = rules_toml(corpus, &rules);
    let result = replay(label, &rules_text, corpus.stream, input);
    assert!(
        !result.stderr.contains("not counted"),
        "{name}: logpulse reported records not counted (every line has a valid time and is on time):\n{}",
        result.stderr
    );
    let all_rules: BTreeSet<String> = rules.iter().map(|r| r.name.clone()).collect();
    let unknown: Vec<&Key> = result.counts.keys().filter(|k| !all_rules.contains(&k.0)).collect();
    assert!(unknown.is_empty(), "{name}: rows for rules that do not exist: {unknown:?}");
    check_zero_rows(name, &result, &by_regex, *times.iter().max().unwrap());

    // The one-pass matcher equals per-rule evaluation, for every rule.
    assert_counts_equal(
        &format!("{name}: logpulse vs per-rule regex evaluation"),
        &by_regex,
        &result.counts,
        &all_rules,
    );

    // The labels, for every template that does not overlap another.
    let label_rules: BTreeSet<String> =
        rules.iter().enumerate().filter(|(i, _)| !overlapping.contains(i)).map(|(_, r)| r.name.clone()).collect();
    let label_truth: BTreeMap<Key, u64> = by_label.into_iter().filter(|(k, _)| label_rules.contains(&k.0)).collect();
    assert_counts_equal(&format!("{name}: logpulse vs Loghub labels"), &label_truth, &result.counts, &label_rules);

    if overlapping.is_empty() {
        // Every line counted by exactly one rule.
        let total: u64 = result.counts.values().sum();
        assert_eq!(total, lines.len() as u64, "{name}: total count over all template rules");
    }
    if !excluded.is_empty() {
        println!("{name}: templates excluded from the label check for overlap:\n  {}", excluded.join("\n  "));
    }
    assert!(
        excluded.len() <= corpus.max_excluded,
        "{name}: {} templates overlap (at most {} allowed):\n  {}",
        excluded.len(),
        corpus.max_excluded,
        excluded.join("\n  ")
    );
    let windows: BTreeSet<i64> = by_regex.keys().map(|k| k.1).collect();
    TemplateReport {
        lines: lines.len(),
        templates: rules.len(),
        label_checked: label_rules.len(),
        excluded,
        cells: by_regex.len(),
        windows: windows.len(),
        zero_rows: result.zero_rows.len(),
    }
}

fn print_report(name: &str, r: &TemplateReport) {
    println!(
        "{name}: {} lines, {} templates ({} checked against labels, {} excluded), {} windows, {} (rule, window, host) cells equal, {} zero-count rows",
        r.lines,
        r.templates,
        r.label_checked,
        r.excluded.len(),
        r.windows,
        r.cells,
        r.zero_rows
    );
}

fn run_corpus(corpus: Corpus) {
    let lines = load(&corpus);
    let input = corpus_path(&format!("{}_2k.log", corpus.name));
    let report = check_templates(corpus.name, &corpus, &lines, &input);
    print_report(corpus.name, &report);
}

#[test]
fn openssh_templates_match_labels() {
    run_corpus(openssh());
}

#[test]
fn apache_templates_match_labels() {
    run_corpus(apache());
}

#[test]
fn linux_templates_match_labels() {
    run_corpus(linux());
}

/// The Apache log five times over (years 1977, 2005, 2033, 2061, 2089: 28 years apart,
/// so every date keeps its weekday): 10,000 lines, more than replay reads between
/// watermark advances, so windows close while the input is still being read, with
/// the file's out-of-order lines (up to 2 s) inside the stream's lateness.
#[test]
fn apache_templates_over_a_longer_replay() {
    let corpus = apache();
    let base = load(&corpus);
    let year_in_line = Regex::new(r"^(\[\w{3} \w{3} \d\d \d\d:\d\d:\d\d )(\d{4})\]").unwrap();
    let mut lines = Vec::new();
    for shift in [-28, 0, 28, 56, 84] {
        for l in &base {
            let mut l = l.clone();
            assert_eq!(l.local.year, 2005);
            l.local.year += shift;
            let caps = year_in_line.captures(&l.raw).unwrap_or_else(|| panic!("no year in {:?}", l.raw));
            assert_eq!(&caps[2], "2005");
            l.raw = format!("{}{}]{}", &caps[1], l.local.year, &l.raw[caps[0].len()..]);
            l.line_no += lines.len() / base.len() * base.len();
            lines.push(l);
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("Apache_10k.log");
    let mut text = lines.iter().map(|l| l.raw.as_str()).collect::<Vec<_>>().join("\r\n");
    text.push_str("\r\n");
    std::fs::write(&input, text).expect("writing input");
    let report = check_templates("Apache_x5", &corpus, &lines, &input);
    assert!(report.lines > 8192);
    print_report("Apache_x5", &report);
}

// ---------------------------------------------------------------------------
// count_repeats.

/// OpenSSH with `count_repeats`: every IPv4 address, every `ssh` substring (a
/// `match` rule, up to 4 per line), every number (up to ~10 per line), and `ssh\w*`
/// words grouped by a named capture (host left out of the key), each against the
/// `regex` crate's `find_iter` per window. `ipv4_lines` (no `count_repeats`) counts
/// lines, for contrast.
#[test]
fn openssh_count_repeats() {
    let corpus = openssh();
    let lines = load(&corpus);
    let input = corpus_path("OpenSSH_2k.log");
    const IPV4: &str = r"\b(?:\d{1,3}\.){3}\d{1,3}\b";
    const SSH_WORD: &str = r"\b(?P<kind>ssh\w*)";
    let mut rules_text = corpus.stream_toml.clone();
    let rule =
        |name: &str, body: &str| format!("\n[[rule]]\nname = \"{name}\"\nstream = \"sshd\"\nwindow = \"1m\"\n{body}\n");
    rules_text.push_str(&rule("ipv4", &format!("regex = {}\ncount_repeats = true", toml_string(IPV4))));
    rules_text.push_str(&rule("ipv4_lines", &format!("regex = {}", toml_string(IPV4))));
    rules_text.push_str(&rule("ssh_literal", "match = \"ssh\"\ncount_repeats = true"));
    rules_text.push_str(&rule("numbers", &format!("regex = {}\ncount_repeats = true", toml_string(r"\d+"))));
    rules_text.push_str(&rule(
        "ssh_words",
        &format!("regex = {}\ncount_repeats = true\ngroup_by = [\"kind\"]", toml_string(SSH_WORD)),
    ));

    let ipv4 = Regex::new(IPV4).unwrap();
    let numbers = Regex::new(r"\d+").unwrap();
    let ssh_word = Regex::new(SSH_WORD).unwrap();
    let mut expected: BTreeMap<Key, u64> = BTreeMap::new();
    let mut add = |rule: &str, w: i64, host: &str, key: String, n: u64| {
        if n > 0 {
            *expected.entry((rule.to_string(), w, host.to_string(), key)).or_default() += n;
        }
    };
    let mut most = BTreeMap::<&str, u64>::new();
    let mut newest = i64::MIN;
    for l in &lines {
        let ts = l.local.unix_secs(corpus.offset_secs);
        newest = newest.max(ts);
        let w = window_start(ts);
        let h = l.host.as_str();
        let n_ip = ipv4.find_iter(&l.raw).count() as u64;
        add("ipv4", w, h, String::new(), n_ip);
        add("ipv4_lines", w, h, String::new(), u64::from(n_ip > 0));
        let n_ssh = l.raw.matches("ssh").count() as u64;
        add("ssh_literal", w, h, String::new(), n_ssh);
        let n_num = numbers.find_iter(&l.raw).count() as u64;
        add("numbers", w, h, String::new(), n_num);
        for caps in ssh_word.captures_iter(&l.raw) {
            add("ssh_words", w, "", format!("kind={}", &caps["kind"]), 1);
        }
        for (rule, n) in [("ipv4", n_ip), ("ssh_literal", n_ssh), ("numbers", n_num)] {
            let m = most.entry(rule).or_default();
            *m = (*m).max(n);
        }
    }
    // The check must be able to tell occurrences from lines.
    assert!(most["ssh_literal"] >= 3 && most["numbers"] >= 5, "{most:?}");

    let result = replay("OpenSSH_count_repeats", &rules_text, "sshd", &input);
    assert!(!result.stderr.contains("not counted"), "logpulse reported records not counted:\n{}", result.stderr);
    let all: BTreeSet<String> = ["ipv4", "ipv4_lines", "ssh_literal", "numbers", "ssh_words"].map(String::from).into();
    let unknown: Vec<&Key> = result.counts.keys().filter(|k| !all.contains(&k.0)).collect();
    assert!(unknown.is_empty(), "rows for rules that do not exist: {unknown:?}");
    check_zero_rows("OpenSSH count_repeats", &result, &expected, newest);
    for rule in &all {
        let only: BTreeSet<String> = [rule.clone()].into();
        let truth: BTreeMap<Key, u64> =
            expected.iter().filter(|(k, _)| &k.0 == rule).map(|(k, v)| (k.clone(), *v)).collect();
        assert_counts_equal(&format!("OpenSSH count_repeats, rule {rule}"), &truth, &result.counts, &only);
        let total: u64 = truth.values().sum();
        println!("OpenSSH count_repeats {rule}: {} cells, total {total}", truth.len());
    }
}
