use super::*;

fn note(id: &str, window_end_ms: i64) -> Notification {
    let mut note: Notification = serde_json::from_value(serde_json::json!({
        "id": id, "alert": "a", "rule": "r", "state": "firing", "host": "h", "key": "",
        "value": 1.0, "window_start": "2026-01-01T00:00:00Z", "window_end": "2026-01-01T00:01:00Z",
        "severity": "warning", "message": "m",
    }))
    .unwrap();
    note.window_end_ms = window_end_ms;
    note
}

#[test]
fn finished_ids_are_not_admitted_again_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    assert!(ledger.admit("hook", &note("a|1", 1)));
    assert!(!ledger.admit("hook", &note("a|1", 1)), "in flight already");
    assert!(ledger.admit("other", &note("a|1", 1)), "per notifier");
    ledger.finish("hook", &["a|1"]);
    ledger.flush();
    assert_eq!(ledger.outbox().len(), 1, "only other's is owed");
    ledger.close();
    let ledger = Ledger::open(dir.path()).unwrap();
    assert!(!ledger.admit("hook", &note("a|1", 1)), "finished before the restart");
    assert!(ledger.admit("other", &note("a|1", 1)), "never finished");
}

#[test]
fn compaction_keeps_what_a_restart_from_the_checkpoint_could_meet() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    for (id, end) in [("w", 10), ("x", 10), ("y", 20), ("z", 30)] {
        assert!(ledger.admit("hook", &note(id, end)));
    }
    ledger.finish("hook", &["w", "x"]);
    ledger.flush();
    let outbox = ledger.outbox();
    assert_eq!(outbox.iter().map(|e| e.notification.id.as_str()).collect::<Vec<_>>(), ["y", "z"]);
    ledger.finish("hook", &["y"]);
    // The checkpoint evaluated through 15 except that `x`'s window is re-made.
    ledger.compact(|_, end| end > 15).unwrap();
    ledger.close();
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.finished_count(), 1, "w is for a window the checkpoint evaluated and was not owed");
    assert!(!ledger.admit("hook", &note("y", 20)), "y was in the saved outbox and is done");
    assert!(ledger.admit("hook", &note("z", 30)), "z is still owed");

    // Finished before an outbox and for a window after the checkpoint: kept.
    ledger.finish("hook", &["z"]);
    ledger.flush();
    let _ = ledger.outbox();
    ledger.compact(|_, end| end > 25).unwrap();
    ledger.close();
    let ledger = Ledger::open(dir.path()).unwrap();
    assert!(!ledger.admit("hook", &note("z", 30)), "a restart re-makes z; it must stay finished");
    assert!(ledger.admit("hook", &note("y", 20)), "y's window is before the checkpoint: forgotten");
}

#[test]
fn a_torn_last_line_is_cut_off_and_odd_ids_survive() {
    let dir = tempfile::tempdir().unwrap();
    let odd = "a\tb\nc\"";
    let first = line((&("hook".to_string(), odd.to_string()), &("a".to_string(), 5)));
    std::fs::write(dir.path().join("delivered.log"), format!("{first}[\"hoo")).unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.finished_count(), 1);
    assert!(!ledger.admit("hook", &note(odd, 5)));
    assert!(ledger.admit("hook", &note("d", 6)));
    ledger.finish("hook", &["d"]);
    ledger.close();
    let text = fs::read_to_string(dir.path().join("delivered.log")).unwrap();
    assert_eq!(text, format!("{first}[\"hook\",\"d\",\"a\",6]\n"), "the torn line is gone");
}
