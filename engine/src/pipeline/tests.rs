//! The engine's tests: the interner's host shortcut, and hot reload of an engine's
//! rules mid-stream ([`Engine::reload`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{TimestampMillisecondType, UInt64Type};

use super::{Engine, Interner, RecordMeta};
use crate::{SourceFile, compile};

/// Host ids through the last-host shortcut are the ids `intern` gives, whatever the order.
#[test]
fn intern_host_gives_the_interned_ids() {
    let mut interner = Interner::new();
    let a = interner.intern("a");
    for host in ["a", "a", "b", "", "b", "a", "c", "c", ""] {
        let id = interner.intern_host(host);
        assert_eq!(interner.get(id), host);
        assert_eq!(id, interner.intern(host));
    }
    assert_eq!(interner.intern_host("a"), a);
    // A default-built interner has no id 0 yet.
    let mut empty = Interner::default();
    let x = empty.intern_host("x");
    assert_eq!(empty.get(x), "x");
}

// Hot reload.

const T0: i64 = 1_795_651_200;

const STREAM: &str = r#"
[[stream]]
name = "app"
format = "raw"
time = { regex = '^(\d+) ', format = "%s" }
host = { regex = '^\d+ (\S+)' }
lateness = "1s"
"#;

fn rule(name: &str, pattern: &str) -> String {
    format!(
        "[[rule]]\nname = \"{name}\"\nstream = \"app\"\nmatch = \"{pattern}\"\ngroup_by = [\"host\"]\nwindow = \"1m\"\n"
    )
}

fn rule_set(rules: &[String]) -> Arc<crate::RuleSet> {
    let text = format!("{STREAM}\n{}", rules.join("\n"));
    Arc::new(compile(&[SourceFile::new("r.toml", &text)]).unwrap_or_else(|e| panic!("{e}")))
}

/// 5 minutes of lines from two hosts: every 3 s an error, a warn and an info line.
fn lines() -> Vec<String> {
    let mut out = Vec::new();
    for s in (0..300).step_by(3) {
        for (i, level) in ["error", "warn", "info"].iter().enumerate() {
            out.push(format!("{} web-{} {level} x", T0 + s, (s / 3 + i as i64) % 2));
        }
    }
    out
}

/// (rule, window_end s from T0, host) -> count, over every closed row.
type Rows = BTreeMap<(String, i64, String), u64>;

fn collect(batch: Option<RecordBatch>, into: &mut Rows) {
    let Some(batch) = batch else { return };
    let rule = batch.column_by_name("rule").unwrap().as_string::<i32>();
    let end = batch.column_by_name("window_end").unwrap().as_primitive::<TimestampMillisecondType>();
    let host = batch.column_by_name("host").unwrap().as_string::<i32>();
    let count = batch.column_by_name("count").unwrap().as_primitive::<UInt64Type>();
    for i in 0..batch.num_rows() {
        let key = (rule.value(i).to_string(), end.value(i) / 1000 - T0, host.value(i).to_string());
        *into.entry(key).or_default() += count.value(i);
    }
}

/// Runs `lines` through an engine on `first`, reloading to `second` before line `at`.
fn run(first: &Arc<crate::RuleSet>, second: Option<(&Arc<crate::RuleSet>, usize)>) -> (Rows, Vec<String>) {
    let mut engine = Engine::new(Arc::clone(first));
    let meta = RecordMeta { default_host: "h", default_time_ms: 0, now_ms: 0 };
    let mut rows = Rows::new();
    let mut gone = Vec::new();
    for (n, line) in lines().iter().enumerate() {
        if let Some((next, at)) = second
            && n == at
        {
            gone = engine.reload(Arc::clone(next)).unwrap();
        }
        let event = engine.rules().streams[0].decode_line(line, 0).unwrap();
        engine.process(0, &event, &meta, String::new);
        engine.advance(None);
        collect(engine.take_closed(), &mut rows);
    }
    engine.finish();
    collect(engine.take_closed(), &mut rows);
    (rows, gone)
}

fn only(rows: &Rows, rule: &str, from_end: i64) -> Rows {
    rows.iter().filter(|((r, end, _), _)| r == rule && *end >= from_end).map(|(k, v)| (k.clone(), *v)).collect()
}

#[test]
fn a_reload_keeps_unchanged_rules_flushes_removed_ones_and_starts_changed_ones_at_the_next_window() {
    let v1 = rule_set(&[rule("errors", "error"), rule("warns", "warn"), rule("infos", "info")]);
    let v2 = rule_set(&[rule("added", "info"), rule("warns", "warn x"), rule("errors", "error")]);
    // Line 150 is at 150 s: the middle of the third minute.
    let (reloaded, gone) = run(&v1, Some((&v2, 150)));
    assert_eq!(gone, ["warns", "infos"]);
    let (plain_v1, _) = run(&v1, None);
    let (plain_v2, _) = run(&v2, None);

    // Unchanged: every window as if there had been no reload, none lost or doubled.
    assert_eq!(only(&reloaded, "errors", 0), only(&plain_v1, "errors", 0));
    assert_eq!(only(&reloaded, "errors", 0).values().sum::<u64>(), 100);

    // Removed: whole windows before the reload, then what the open one had.
    let infos = only(&reloaded, "infos", 0);
    assert_eq!(only(&infos, "infos", 0).keys().map(|k| k.1).max(), Some(180));
    for (key, count) in &infos {
        let full = plain_v1[key];
        if key.1 < 180 {
            assert_eq!(*count, full, "{key:?}");
        } else {
            assert!(*count < full && *count > 0, "the open window flushed partial: {key:?} {count} of {full}");
        }
    }

    // Changed and new: from the next window boundary (180 s) on, as a run of v2 alone.
    for rule in ["warns", "added"] {
        let after: Rows = only(&reloaded, rule, 240);
        assert_eq!(after, only(&plain_v2, rule, 240), "{rule}");
        assert!(!after.is_empty());
    }
    // The new `added` has no partial window before the boundary.
    assert_eq!(only(&reloaded, "added", 0), only(&plain_v2, "added", 240));
}
