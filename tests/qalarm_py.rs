//! Qalarm events written by an independent MessagePack encoder (PyPI `msgpack`,
//! as the Python SDK uses it) are counted exactly by `logpulse replay`, and
//! garbage between events neither stops the replay nor changes the counts.
//!
//! Known limit, by construction of a file of concatenated MessagePack values
//! (no framing): a *truncated* event followed by a good one measures as one
//! value that swallows the good one. Kafka messages are framed, so this only
//! concerns files; invalid bytes, truncated headers and a truncated last event
//! are all recovered from, as tested here.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const RULES: &str = r#"
[[stream]]
name = "qalarm"
format = "qalarm"
lateness = "15m"    # the generator spreads events over 10 minutes, out of order

[[rule]]
name = "qalarm"
stream = "qalarm"
window = "1m"
"#;

type Counts = BTreeMap<(String, String), u64>;

fn expected(dir: &Path, n: usize, seed: u64) -> (std::path::PathBuf, Counts) {
    let out = dir.join(format!("events-{seed}.msgpack"));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/qalarm_py.py");
    let result = Command::new("python3")
        .arg(script)
        .arg(&out)
        .arg(n.to_string())
        .arg(seed.to_string())
        .output()
        .expect("python3 runs (scripts/install-test-deps.sh installs msgpack)");
    assert!(result.status.success(), "qalarm_py.py failed: {}", String::from_utf8_lossy(&result.stderr));
    let json: serde_json::Value = serde_json::from_slice(&result.stdout).expect("generator prints JSON");
    let mut counts = Counts::new();
    for g in json["groups"].as_array().expect("groups") {
        let key = (g["window_start"].as_str().unwrap().to_string(), g["key"].as_str().unwrap().to_string());
        counts.insert(key, g["count"].as_u64().unwrap());
    }
    assert_eq!(counts.values().sum::<u64>(), n as u64);
    (out, counts)
}

/// `logpulse replay -r RULES -s qalarm EXTRA... INPUT`.
fn replay_qalarm(rules: &Path, input: &Path, extra: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_logpulse"))
        .args(["replay", "-r"])
        .arg(rules)
        .args(["-s", "qalarm"])
        .args(extra)
        .arg(input)
        .output()
        .unwrap()
}

fn replay(dir: &Path, input: &Path) -> (Counts, String) {
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    let out = replay_qalarm(&rules, input, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "replay failed: {stderr}");
    let mut reader = csv::Reader::from_reader(&out.stdout[..]);
    let headers = reader.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        ["rule", "window_start", "window_end", "host", "key", "count", "sum", "min", "max"]
    );
    let mut counts = Counts::new();
    for row in reader.records() {
        let row = row.unwrap();
        assert_eq!(&row[0], "qalarm");
        assert_eq!(&row[3], "", "group_by leaves host out, so the host column is empty");
        assert_eq!((&row[6], &row[7], &row[8]), ("", "", ""), "a counting rule has no value");
        let prev = counts.insert((row[1].to_string(), row[4].to_string()), row[5].parse().unwrap());
        assert!(prev.is_none(), "one row per (rule, window, host, key)");
    }
    (counts, stderr)
}

#[test]
fn python_msgpack_events_are_counted_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (input, want) = expected(dir.path(), 3_000, 7);
    let (got, stderr) = replay(dir.path(), &input);
    assert!(!stderr.contains("not counted"), "{stderr}");
    assert_same(&got, &want, "counts differ from the generator's");
}

/// Equality with a readable difference: only the keys that differ.
fn assert_same(got: &Counts, want: &Counts, what: &str) {
    let keys: std::collections::BTreeSet<_> = got.keys().chain(want.keys()).collect();
    let diff: Vec<String> = keys
        .into_iter()
        .filter(|k| got.get(*k) != want.get(*k))
        .map(|k| format!("{k:?}: got {:?}, want {:?}", got.get(k), want.get(k)))
        .collect();
    assert!(diff.is_empty(), "{what}:\n{}", diff.join("\n"));
}

#[test]
fn garbage_between_events_changes_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (input, want) = expected(dir.path(), 500, 11);
    let clean = std::fs::read(&input).unwrap();
    // Re-split the clean stream into events with an independent decoder (serde's
    // rmpv reads one value at a time), then splice garbage between some of them.
    let mut cursor = &clean[..];
    let mut dirty = Vec::new();
    let mut i = 0;
    while !cursor.is_empty() {
        let before = cursor.len();
        rmpv::decode::read_value(&mut cursor).expect("generator output decodes");
        let used = before - cursor.len();
        let start = clean.len() - before;
        dirty.extend_from_slice(&clean[start..start + used]);
        if i % 50 == 7 {
            // 0xc1 is never used in MessagePack; the rest is a truncated map whose
            // header swallows the start of the next event. A concatenated file has no
            // framing, so this is the hard case for resynchronisation.
            dirty.extend_from_slice(&[0xc1, 0xc1, 0x85, 0xa7]);
        }

        i += 1;
    }
    // A writer that died mid-event: the file ends with a truncated event.
    dirty.extend_from_slice(&clean[..25]);
    let path = dir.path().join("dirty.msgpack");
    std::fs::write(&path, &dirty).unwrap();
    let (got, stderr) = replay(dir.path(), &path);
    assert_same(&got, &want, "garbage must not change what good events produce");
    assert!(stderr.contains("decode: 11"), "each garbage run is one decode error: {stderr}");
}

/// `replay --out` stores every event in `qalarm_events` as Parquet, and DuckDB reads
/// the same rows as `logpulse sql` does, group by group.
#[test]
fn replay_out_stores_every_event_and_duckdb_reads_the_same_table() {
    let dir = tempfile::tempdir().unwrap();
    let (input, want) = expected(dir.path(), 2_000, 13);
    let data = dir.path().join("data");
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    let out = replay_qalarm(&rules, &input, &["--out".as_ref(), data.as_os_str()]);
    assert!(out.status.success(), "replay --out failed: {}", String::from_utf8_lossy(&out.stderr));
    let per_group = "SELECT coalesce(project, '') AS p, coalesce(module, '') AS m, coalesce(code, '') AS c, \
                     coalesce(env, '') AS e, count(*) AS n FROM qalarm_events GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4";
    let logpulse = Command::new(env!("CARGO_BIN_EXE_logpulse"))
        .args(["sql", "-d"])
        .arg(&data)
        .args([per_group, "--format", "csv"])
        .output()
        .unwrap();
    assert!(logpulse.status.success(), "{}", String::from_utf8_lossy(&logpulse.stderr));
    let logpulse: Vec<String> =
        String::from_utf8(logpulse.stdout).unwrap().lines().skip(1).map(str::to_string).collect();
    let script = format!(
        "import csv, sys, duckdb\n\
         con = duckdb.connect()\n\
         con.execute(\"CREATE VIEW qalarm_events AS SELECT * FROM read_parquet('{}/qalarm_events/**/*.parquet')\")\n\
         w = csv.writer(sys.stdout, lineterminator='\\n')\n\
         for row in con.execute(sys.argv[1]).fetchall():\n    w.writerow(row)\n",
        data.display()
    );
    let duckdb = Command::new("python3").arg("-c").arg(script).arg(per_group).output().unwrap();
    assert!(duckdb.status.success(), "DuckDB: {}", String::from_utf8_lossy(&duckdb.stderr));
    let duckdb: Vec<String> = String::from_utf8(duckdb.stdout).unwrap().lines().map(str::to_string).collect();
    assert_eq!(logpulse, duckdb, "logpulse sql and DuckDB read the same groups");
    let total: u64 = duckdb.iter().map(|l| l.rsplit(',').next().unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!(total, 2_000, "every event is stored once");
    assert_eq!(total, want.values().sum::<u64>());
    assert!(duckdb.len() > 20, "the events spread over many groups: {}", duckdb.len());
}

/// Qalarm's strategy `limit = [repeat, during, threshold]`, as DESIGN.md writes it
/// (`window = during`, `when = "count >= threshold"`, `for = repeat`), backtested by
/// `replay --alerts` over events from Python's msgpack; the expected alarms come from
/// a direct reading of Qalarm's rule in Python (the alarm is on at period i when each
/// of periods i-repeat+1..=i had `threshold` or more events), not from logpulse.
#[test]
fn the_qalarm_limit_strategy_backtests_as_qalarm_reads_it() {
    const SCRIPT: &str = r#"
import json, sys, time, msgpack
out, counts, repeat, threshold = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
T0 = 1795651200
with open(out, "wb") as w:
    for i, c in enumerate(counts):
        for j in range(c):
            w.write(msgpack.packb({"project": "pay", "module": "api", "code": 500, "env": "prod", "message": "timeout",
                                   "time": T0 + 60 * i + j, "server_ip": "10.0.0.1", "client_ip": "1.1.1.1",
                                   "script": "/pay.php"}, use_bin_type=True))
        # Another key, once a period, so that every period closes.
        w.write(msgpack.packb({"project": "beat", "module": "m", "code": 1, "env": "prod", "message": "tick",
                               "time": T0 + 60 * i + 59, "server_ip": "10.0.0.2"}, use_bin_type=True))
alarms, on = [], False
for i in range(len(counts)):
    now = i + 1 >= repeat and all(c >= threshold for c in counts[i + 1 - repeat:i + 1])
    if now != on:
        alarms.append([("firing" if now else "resolved"), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + 60 * (i + 1)))])
        on = now
print(json.dumps(alarms))
"#;
    let dir = tempfile::tempdir().unwrap();
    let counts = [3, 5, 6, 7, 2, 6, 6, 6, 6, 0, 5, 5, 5, 1];
    let (repeat, during, threshold) = (3, "1m", 5);
    let events = dir.path().join("events.msgpack");
    let py = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(&events)
        .arg(serde_json::to_string(&counts).unwrap())
        .arg(repeat.to_string())
        .arg(threshold.to_string())
        .output()
        .expect("python3 runs");
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    let expected: Vec<(String, String)> = serde_json::from_slice(&py.stdout).unwrap();
    assert!(expected.len() >= 4, "the script should switch the alarm on and off twice: {expected:?}");

    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        format!(
            "[[stream]]\nname = \"qalarm\"\nformat = \"qalarm\"\nlateness = \"1s\"\n\n\
             [[rule]]\nname = \"qalarm\"\nstream = \"qalarm\"\nwindow = \"{during}\"\n\n\
             # Qalarm: limit = [{repeat}, 60, {threshold}]\n\
             [[alert]]\nname = \"pay_errors\"\nrule = \"qalarm\"\nwhen = \"count >= {threshold}\"\nfor = {repeat}\n"
        ),
    )
    .unwrap();
    let alerts = dir.path().join("alerts.jsonl");
    let out = replay_qalarm(&rules, &events, &["--alerts".as_ref(), alerts.as_os_str()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let notes: Vec<serde_json::Value> =
        std::fs::read_to_string(&alerts).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let actual: Vec<(String, String)> = notes
        .iter()
        .map(|n| (n["state"].as_str().unwrap().to_string(), n["window_end"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(actual, expected);
    for n in &notes {
        assert_eq!(n["key"], "project=pay,module=api,code=500,env=prod", "{n}");
        assert_eq!(
            n["id"].as_str().unwrap(),
            format!(
                "pay_errors|{}|{}|{}|{}",
                n["host"].as_str().unwrap(),
                n["key"].as_str().unwrap(),
                n["window_end"].as_str().unwrap(),
                n["state"].as_str().unwrap()
            )
        );
    }
}
