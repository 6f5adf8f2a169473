//! Scripted event times through the whole engine: lines in, notifications out.

use std::sync::Arc;

use proptest::prelude::*;

use super::{AlertEvaluator, AlertSnapshot, Notification};
use crate::{Engine, RecordMeta, SourceFile, compile};

/// 2026-11-26T00:00:00Z, a multiple of every window below.
const T0: i64 = 1_795_651_200;

const STREAM_AND_RULES: &str = r#"
[[stream]]
name = "app"
format = "raw"
time = { regex = '^(\d+) ', format = "%s" }
host = { regex = '^\d+ (\S+)' }
lateness = "1s"

[[rule]]
name = "errors"
stream = "app"
match = "error"
group_by = ["host"]
window = "1m"

[[rule]]
name = "cost"
stream = "app"
value = { after = "cost=", before = "ms" }
group_by = ["host"]
window = "1m"
"#;

/// Per window (1 minute each from T0), per host: how many `error` lines. Every window
/// also gets one `ok` line from host `beat` unless `lagging` says the input stopped:
/// the stream's clock then moves on only while there is input.
struct Script {
    windows: Vec<Vec<(&'static str, u32)>>,
}

fn lines(script: &Script) -> Vec<String> {
    let mut out = Vec::new();
    for (i, hosts) in script.windows.iter().enumerate() {
        let base = T0 + 60 * i as i64;
        out.push(format!("{} beat ok", base + 1));
        for (host, n) in hosts {
            for j in 0..*n {
                out.push(format!("{} {host} error cost={}ms", base + 2 + (j as i64 % 50), 10 * (j + 1)));
            }
        }
    }
    out
}

/// Runs the rule file (STREAM_AND_RULES + `alerts`) over `lines` as replay does, with
/// the evaluator fed after every line; `snapshot_at` restarts the evaluator from its
/// snapshot after that many lines.
fn run_lines(alerts: &str, lines: &[String], snapshot_at: Option<usize>) -> Vec<Notification> {
    let text = format!("{STREAM_AND_RULES}\n{alerts}");
    let rules = Arc::new(compile(&[SourceFile::new("alerts.toml", &text)]).unwrap_or_else(|e| panic!("{e}")));
    let mut engine = Engine::new(Arc::clone(&rules));
    let mut evaluator = AlertEvaluator::new(Arc::clone(&rules));
    let mut out = Vec::new();
    let meta = RecordMeta { default_host: "h", default_time_ms: 0, now_ms: 0 };
    let step = |engine: &mut Engine, evaluator: &mut AlertEvaluator, out: &mut Vec<Notification>| {
        if let Some(batch) = engine.take_closed() {
            evaluator.add_batch(&batch);
        }
        out.extend(evaluator.advance_all(|r| engine.closed_through(r)));
    };
    for (n, line) in lines.iter().enumerate() {
        let event = rules.streams[0].decode_line(line, 0).unwrap();
        engine.process(0, &event, &meta, String::new);
        engine.advance(None);
        step(&mut engine, &mut evaluator, &mut out);
        if snapshot_at == Some(n) {
            let snap: AlertSnapshot = evaluator.snapshot();
            evaluator = AlertEvaluator::restore(Arc::clone(&rules), &snap);
        }
    }
    engine.finish();
    step(&mut engine, &mut evaluator, &mut out);
    out
}

fn run(alerts: &str, script: &Script) -> Vec<String> {
    summarize(&run_lines(alerts, &lines(script), None))
}

/// `state@window index host value` per notification.
fn summarize(notes: &[Notification]) -> Vec<String> {
    notes
        .iter()
        .map(|n| {
            let index = (n.window_end_ms / 1000 - T0 - 60) / 60;
            let value = n.value.map_or("null".to_string(), |v| format!("{v}"));
            format!("{}@{index} {} {value}", n.state.as_str(), n.host)
        })
        .collect()
}

fn web1(counts: &[u32]) -> Script {
    Script { windows: counts.iter().map(|&c| vec![("web-1", c)]).collect() }
}

const OVER_5: &str = r#"
[[alert]]
name = "burst"
rule = "errors"
when = "count > 5"
"#;

#[test]
fn a_threshold_crossing_fires_once_and_resolves() {
    assert_eq!(run(OVER_5, &web1(&[1, 7, 8, 2, 0])), ["firing@1 web-1 7", "resolved@3 web-1 2"]);
}

#[test]
fn for_3_needs_three_windows_in_a_row_and_a_break_starts_over() {
    let alert = format!("{OVER_5}for = 3\n");
    assert_eq!(run(&alert, &web1(&[7, 7, 1, 7, 7, 7, 7, 0])), ["firing@5 web-1 7", "resolved@7 web-1 0"]);
}

#[test]
fn flapping_notifies_every_change() {
    assert_eq!(
        run(OVER_5, &web1(&[7, 1, 7, 1, 7])),
        ["firing@0 web-1 7", "resolved@1 web-1 1", "firing@2 web-1 7", "resolved@3 web-1 1", "firing@4 web-1 7"]
    );
}

#[test]
fn repeat_interval_re_notifies_in_event_time() {
    let alert = format!("{OVER_5}repeat_interval = \"2m\"\n");
    assert_eq!(run(&alert, &web1(&[7, 7, 7, 7, 7, 7])), ["firing@0 web-1 7", "firing@2 web-1 7", "firing@4 web-1 7"]);
}

#[test]
fn max_notifications_caps_each_episode() {
    let alert = format!("{OVER_5}repeat_interval = \"1m\"\nmax_notifications = 2\n");
    assert_eq!(
        run(&alert, &web1(&[7, 7, 7, 7, 1, 7, 7, 7])),
        ["firing@0 web-1 7", "firing@1 web-1 7", "resolved@4 web-1 1", "firing@5 web-1 7", "firing@6 web-1 7"]
    );
}

#[test]
fn resolve_false_sends_no_resolved() {
    let alert = format!("{OVER_5}resolve = false\n");
    assert_eq!(run(&alert, &web1(&[7, 1, 7])), ["firing@0 web-1 7", "firing@2 web-1 7"]);
}

#[test]
fn keys_fire_independently_in_the_machine_view() {
    let script = Script {
        windows: vec![vec![("web-1", 7), ("web-2", 1)], vec![("web-1", 7), ("web-2", 9)], vec![("web-1", 1)]],
    };
    assert_eq!(
        run(OVER_5, &script),
        ["firing@0 web-1 7", "firing@1 web-2 9", "resolved@2 web-1 1", "resolved@2 web-2 0"]
    );
}

#[test]
fn sum_and_avg_views_evaluate_one_series_over_hosts() {
    let script = Script { windows: vec![vec![("web-1", 4), ("web-2", 4)], vec![("web-1", 2), ("web-2", 2)]] };
    let sum = r#"
[[alert]]
name = "total"
rule = "errors"
when = "count > 6"
view = "sum"
"#;
    assert_eq!(run(sum, &script), ["firing@0  8", "resolved@1  4"]);
    // Per host: web-1 costs 10,20,30,40 (avg 25), web-2 the same; avg view = mean of the
    // per-host avg. In window 1 each host's avg is 15.
    let avg = r#"
[[alert]]
name = "slow"
rule = "cost"
when = "avg >= 25"
view = "avg"
"#;
    assert_eq!(run(avg, &script), ["firing@0  25", "resolved@1  15"]);
}

const ABSENT: &str = r#"
[[alert]]
name = "silent"
rule = "errors"
when = "absent"
for = 2
"#;

#[test]
fn absent_fires_when_a_seen_key_goes_quiet() {
    assert_eq!(run(ABSENT, &web1(&[3, 3, 0, 0, 0, 2])), ["firing@3 web-1 0", "resolved@5 web-1 2"]);
}

#[test]
fn absent_does_not_fire_while_the_pipeline_lags() {
    // The input stops after window 1 (nothing at all arrives, not even the heartbeat):
    // no window closes, so nothing can be judged absent.
    let mut all = lines(&web1(&[3, 3, 0, 0, 0]));
    all.truncate(1 + 3 + 1 + 3);
    assert_eq!(summarize(&run_lines(ABSENT, &all, None)), Vec::<String>::new());
}

#[test]
fn a_key_never_seen_is_not_absent() {
    assert_eq!(run(ABSENT, &web1(&[0, 0, 0, 0])), Vec::<String>::new());
}

#[test]
fn forget_drops_a_quiet_key_and_resolves_it() {
    let alert = format!("{ABSENT}forget = \"3m\"\n");
    assert_eq!(run(&alert, &web1(&[3, 0, 0, 0, 0, 0])), ["firing@2 web-1 0", "resolved@4 web-1 null"]);
}

#[test]
fn notification_json_has_the_design_fields_and_idempotency_id() {
    let notes = run_lines(
        &format!("{OVER_5}severity = \"critical\"\nmessage = \"{{alert}} {{state}} on {{host}}: {{value}} errors\"\n"),
        &lines(&web1(&[7, 0])),
        None,
    );
    let json = serde_json::to_value(&notes[0]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "id": "burst|web-1||2026-11-26T00:01:00Z|firing",
            "alert": "burst", "rule": "errors", "state": "firing", "host": "web-1", "key": "",
            "value": 7.0, "window_start": "2026-11-26T00:00:00Z", "window_end": "2026-11-26T00:01:00Z",
            "severity": "critical", "message": "burst firing on web-1: 7 errors"
        })
    );
}

#[test]
fn a_restored_evaluator_continues_the_same_sequence() {
    let alert = format!("{OVER_5}for = 2\nrepeat_interval = \"2m\"\n");
    let all = lines(&web1(&[7, 7, 7, 1, 7, 7, 7, 7, 0]));
    let uninterrupted = run_lines(&alert, &all, None);
    assert!(uninterrupted.len() >= 4);
    for cut in [3, all.len() / 2, all.len() - 5] {
        assert_eq!(run_lines(&alert, &all, Some(cut)), uninterrupted, "restart after line {cut}");
    }
}

/// Qalarm's strategy `limit = [repeat, during, threshold]`: alarm when each of
/// `repeat` consecutive `during` periods has `threshold` or more events. Written here
/// as DESIGN.md says (window = during, when = count >= threshold, for = repeat), and
/// checked against a direct reading of Qalarm's rule: the alarm is on at period i
/// exactly when periods i-repeat+1..=i all reached the threshold; logpulse notifies
/// each switch on (firing) and off (resolved).
fn qalarm_reference(counts: &[u32], repeat: usize, threshold: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut on = false;
    for i in 0..counts.len() {
        let now = i + 1 >= repeat && counts[i + 1 - repeat..=i].iter().all(|&c| c >= threshold);
        if now != on {
            out.push(format!("{}@{i} web-1 {}", if now { "firing" } else { "resolved" }, counts[i]));
            on = now;
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn the_qalarm_strategy_matches_qalarms_semantics(
        counts in prop::collection::vec(0u32..6, 1..14),
        repeat in 1usize..4,
        threshold in 1u32..5,
    ) {
        // A first window with data, so that the series exists from window 0 as in Qalarm.
        let mut counts = counts;
        counts[0] = counts[0].max(1);
        let alert = format!("[[alert]]\nname = \"qalarm_limit\"\nrule = \"errors\"\nwhen = \"count >= {threshold}\"\nfor = {repeat}\n");
        prop_assert_eq!(run(&alert, &web1(&counts)), qalarm_reference(&counts, repeat, threshold));
    }

    #[test]
    fn split_partial_rows_give_the_same_notifications(counts in prop::collection::vec(0u32..9, 1..10), cut in 0usize..200) {
        // Two producers' partial rows of the same windows (each line goes to one of two
        // engines) evaluate as one.
        let all = lines(&web1(&counts));
        let whole = summarize(&run_lines(OVER_5, &all, None));
        let text = format!("{STREAM_AND_RULES}\n{OVER_5}");
        let rules = Arc::new(compile(&[SourceFile::new("a.toml", &text)]).unwrap());
        let (mut a, mut b) = (Engine::new(Arc::clone(&rules)), Engine::new(Arc::clone(&rules)));
        let meta = RecordMeta { default_host: "h", default_time_ms: 0, now_ms: 0 };
        for (n, line) in all.iter().enumerate() {
            let event = rules.streams[0].decode_line(line, 0).unwrap();
            // The heartbeat goes to both, so that both clocks move.
            if line.contains(" beat ") || (n + cut) % 2 == 0 { a.process(0, &event, &meta, String::new); }
            if line.contains(" beat ") || (n + cut) % 2 == 1 { b.process(0, &event, &meta, String::new); }
        }
        a.finish();
        b.finish();
        let mut evaluator = AlertEvaluator::new(Arc::clone(&rules));
        for batch in [b.take_closed(), a.take_closed()].into_iter().flatten() {
            evaluator.add_batch(&batch);
        }
        let notes = evaluator.advance_all(|r| Some(a.closed_through(r).unwrap().min(b.closed_through(r).unwrap())));
        prop_assert_eq!(summarize(&notes), whole);
    }
}

#[test]
fn the_sequence_does_not_depend_on_how_often_the_evaluator_advances() {
    // Two rules, two alerts: evaluated after every line, and once at the end (as a
    // replay of a short file does), the notifications come in the same order.
    let alerts = format!("{OVER_5}\n[[alert]]\nname = \"costly\"\nrule = \"cost\"\nwhen = \"max > 60\"\n");
    let all = lines(&web1(&[7, 1, 7, 7, 1, 0]));
    let per_line = run_lines(&alerts, &all, None);
    let text = format!("{STREAM_AND_RULES}\n{alerts}");
    let rules = Arc::new(compile(&[SourceFile::new("a.toml", &text)]).unwrap());
    let mut engine = Engine::new(Arc::clone(&rules));
    let meta = RecordMeta { default_host: "h", default_time_ms: 0, now_ms: 0 };
    for line in &all {
        engine.process(0, &rules.streams[0].decode_line(line, 0).unwrap(), &meta, String::new);
    }
    engine.finish();
    let mut evaluator = AlertEvaluator::new(Arc::clone(&rules));
    evaluator.add_batch(&engine.take_closed().unwrap());
    let at_end = evaluator.advance_all(|r| engine.closed_through(r));
    assert!(per_line.iter().any(|n| n.alert == "costly") && per_line.iter().any(|n| n.alert == "burst"));
    assert_eq!(at_end, per_line);
}

#[test]
fn skipped_windows_are_not_judged() {
    // As a restarted worker does for windows its lanes wrote before it stopped: the
    // burst in minute 1 is skipped, the one in minute 4 fires.
    let text = format!("{STREAM_AND_RULES}\n{OVER_5}");
    let rules = Arc::new(compile(&[SourceFile::new("a.toml", &text)]).unwrap());
    let mut engine = Engine::new(Arc::clone(&rules));
    let meta = RecordMeta { default_host: "h", default_time_ms: 0, now_ms: 0 };
    for line in &lines(&web1(&[1, 7, 1, 1, 7, 1])) {
        engine.process(0, &rules.streams[0].decode_line(line, 0).unwrap(), &meta, String::new);
    }
    engine.finish();
    let mut evaluator = AlertEvaluator::new(Arc::clone(&rules));
    evaluator.skip_through(0, (T0 + 3 * 60 + 30) * 1000);
    evaluator.add_batch(&engine.take_closed().unwrap());
    let notes = evaluator.advance_all(|r| engine.closed_through(r));
    assert_eq!(summarize(&notes), ["firing@4 web-1 7", "resolved@5 web-1 1"]);
}

#[test]
fn frontiers_at_the_ends_of_time_do_not_overflow() {
    let text = format!("{STREAM_AND_RULES}\n{OVER_5}");
    let rules = Arc::new(compile(&[SourceFile::new("a.toml", &text)]).unwrap());
    let mut evaluator = AlertEvaluator::new(Arc::clone(&rules));
    evaluator.skip_through(0, i64::MIN);
    evaluator.skip_through(0, i64::MAX);
    assert!(evaluator.advance(0, i64::MAX).is_empty());
    let mut fresh = AlertEvaluator::new(rules);
    fresh.skip_through(0, i64::MIN + 1);
    assert!(fresh.advance_all(|_| Some(i64::MAX)).is_empty());
}

/// A SQL alert: each run's rows hold, `for` counts runs, a series missing from a run
/// resolves, `max_notifications` caps repeats, and a restore carries the state.
#[test]
fn a_sql_alert_fires_per_returned_series_and_resolves_when_it_disappears() {
    let text = format!(
        "{STREAM_AND_RULES}\n[[alert]]\nname = \"hot\"\nsql = \"SELECT host, value FROM t\"\nevery = \"1m\"\n\
         for = 2\nrepeat_interval = \"1m\"\nmax_notifications = 2\n"
    );
    let rules = Arc::new(compile(&[SourceFile::new("a.toml", &text)]).unwrap());
    let mut evaluator = AlertEvaluator::new(Arc::clone(&rules));
    assert!(!evaluator.is_empty());
    assert_eq!(evaluator.sql_alerts().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["hot"]);
    let row = |host: &str, value: f64| super::SqlRow {
        host: host.to_string(),
        key: String::new(),
        value: Some(value),
        window_start_ms: None,
        window_end_ms: None,
    };
    let minute = |i: i64| (T0 + 60 * i) * 1000;
    let mut seen = Vec::new();
    let runs: Vec<Vec<super::SqlRow>> = vec![
        vec![row("a", 1.0)],
        vec![row("a", 2.0), row("b", 5.0)],
        vec![row("a", 3.0), row("b", 6.0)],
        vec![row("a", 4.0)],
        vec![row("a", 5.0)],
        vec![],
    ];
    for (i, rows) in runs.into_iter().enumerate() {
        if i == 3 {
            evaluator = AlertEvaluator::restore(Arc::clone(&rules), &evaluator.snapshot());
        }
        for n in evaluator.observe_sql("hot", minute(i as i64), rows) {
            seen.push(format!("{}@{i} {} {:?}", n.state.as_str(), n.host, n.value));
        }
    }
    assert_eq!(
        seen,
        [
            "firing@1 a Some(2.0)",
            "firing@2 a Some(3.0)",
            "firing@2 b Some(6.0)",
            "resolved@3 b None",
            "resolved@5 a None",
        ],
        "a fires after 2 runs and repeats once (max 2); b resolves when it is gone"
    );
}

/// A SQL series that fires, resolves and fires again in the same row window gets a new
/// id each time: ids are what the delivery ledger deduplicates on.
#[test]
fn a_sql_alert_firing_again_in_the_same_window_has_a_new_id() {
    let text =
        format!("{STREAM_AND_RULES}\n[[alert]]\nname = \"hot\"\nsql = \"SELECT host, value FROM t\"\nevery = \"1m\"\n");
    let rules = Arc::new(compile(&[SourceFile::new("a.toml", &text)]).unwrap());
    let mut evaluator = AlertEvaluator::new(Arc::clone(&rules));
    let window_end = T0 * 1000;
    let row = || super::SqlRow {
        host: "a".to_string(),
        key: String::new(),
        value: Some(1.0),
        window_start_ms: Some(window_end - 60_000),
        window_end_ms: Some(window_end),
    };
    let minute = |i: i64| (T0 + 60 * i) * 1000;
    let runs: Vec<Vec<super::SqlRow>> = vec![vec![row()], vec![], vec![row()], vec![row()], vec![row()]];
    let mut notes = Vec::new();
    for (i, rows) in runs.into_iter().enumerate() {
        notes.extend(evaluator.observe_sql("hot", minute(i as i64), rows));
    }
    let states: Vec<&str> = notes.iter().map(|n| n.state.as_str()).collect();
    assert_eq!(states, ["firing", "resolved", "firing"], "fire, resolve, fire again; then it holds");
    let ids: std::collections::BTreeSet<&str> = notes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids.len(), notes.len(), "every notification has its own id: {notes:#?}");
    assert!(notes.iter().all(|n| n.id.starts_with("hot|a||")), "alert|host|key|window_end|state|run=..: {notes:#?}");
}

/// A series whose input moved to another worker is dropped without a notification,
/// and its silence here is then not `absent`.
#[test]
fn a_dropped_series_is_neither_absent_nor_resolved() {
    let text = format!("{STREAM_AND_RULES}\n[[alert]]\nname = \"quiet\"\nrule = \"errors\"\nwhen = \"absent\"\n");
    let rules = Arc::new(compile(&[SourceFile::new("a.toml", &text)]).unwrap());
    let mut engine = Engine::new(Arc::clone(&rules));
    let mut evaluator = AlertEvaluator::new(Arc::clone(&rules));
    let meta = RecordMeta { default_host: "h", default_time_ms: 0, now_ms: 0 };
    let script = Script { windows: vec![vec![("web-1", 1), ("web-2", 1)], vec![("web-2", 1)], vec![("web-2", 1)]] };
    let mut notes = Vec::new();
    for (n, line) in lines(&script).iter().enumerate() {
        if n == 4 {
            // Window 0 was judged (window 1's first line closed it); web-1's partition is revoked.
            assert!(evaluator.tracks("errors", "web-1", ""));
            assert_eq!(evaluator.drop_series("errors", "web-1", ""), 1);
            assert!(!evaluator.tracks("errors", "web-1", ""));
        }
        let event = rules.streams[0].decode_line(line, 0).unwrap();
        engine.process(0, &event, &meta, String::new);
        engine.advance(None);
        if let Some(batch) = engine.take_closed() {
            evaluator.add_batch(&batch);
        }
        notes.extend(evaluator.advance_all(|r| engine.closed_through(r)));
    }
    assert!(notes.is_empty(), "no absent for web-1 once it was dropped: {:?}", summarize(&notes));
}
