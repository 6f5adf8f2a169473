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

fn replay(dir: &Path, input: &Path) -> (Counts, String) {
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_logpulse"))
        .args(["replay", "-r"])
        .arg(&rules)
        .args(["-s", "qalarm"])
        .arg(input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "replay failed: {stderr}");
    let mut reader = csv::Reader::from_reader(&out.stdout[..]);
    let headers = reader.headers().unwrap().clone();
    assert_eq!(headers.iter().collect::<Vec<_>>(), ["rule", "window_start", "window_end", "host", "key", "count", "sum", "min", "max"]);
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
