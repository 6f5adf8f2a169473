use std::collections::{BTreeMap, HashMap};

use super::writer::remade_after;

#[test]
fn compaction_forgets_sql_and_removed_alerts_and_keeps_what_a_restart_remakes() {
    let rule_of: HashMap<String, String> =
        [("hot", "errors"), ("new", "fresh")].iter().map(|(a, r)| (a.to_string(), r.to_string())).collect();
    let through: BTreeMap<String, i64> = [("errors".to_string(), 600)].into_iter().collect();
    let remade = remade_after(&rule_of, &through);
    assert!(!remade("hot", 600), "evaluated: the restored state never judges it again");
    assert!(remade("hot", 660), "after the evaluation point: made again");
    assert!(remade("new", 0), "a rule that evaluated nothing yet: all of it");
    assert!(!remade("sql_alert", i64::MAX), "a SQL alert's runs are not repeated");
    assert!(!remade("removed", i64::MAX), "an alert gone from the rules makes nothing");
}
