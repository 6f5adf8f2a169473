use super::*;

fn sample(producer: &str) -> Checkpoint {
    Checkpoint {
        version: CHECKPOINT_VERSION,
        producer: producer.into(),
        position: 42,
        file_identity: Some((1, 2)),
        file_offset: 40,
        line_number: 7,
        aggregates_hi: 1_700_000_060_000,
        written_at_ms: 1,
        engine: EngineSnapshot {
            version: engine::checkpoint::SNAPSHOT_VERSION,
            strings: vec![String::new(), "web-1".into()],
            rules: vec![engine::checkpoint::RuleSnapshot {
                name: "r".into(),
                definition: "d".into(),
                closed_through: Some(60_000),
                windows: vec![engine::checkpoint::WindowSnapshot {
                    start_ms: 60_000,
                    cells: vec![(1, 0, 3, 0.0, f64::INFINITY, f64::NEG_INFINITY)],
                }],
            }],
            streams: vec![],
        },
    }
}

#[test]
fn round_trip_and_replace() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::open(dir.path()).unwrap();
    assert_eq!(store.load("kafka-t-0").unwrap(), None);
    let mut c = sample("kafka-t-0");
    store.save(&c).unwrap();
    assert_eq!(store.load("kafka-t-0").unwrap(), Some(c.clone()));
    c.position = 43;
    store.save(&c).unwrap();
    assert_eq!(store.load("kafka-t-0").unwrap().unwrap().position, 43);
}

#[test]
fn a_torn_checkpoint_is_an_error_and_a_temp_file_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::open(dir.path()).unwrap();
    fs::write(store.dir().join("kafka-t-1.ckpt"), b"\x93garbage").unwrap();
    fs::write(store.dir().join("kafka-t-2.ckpt.tmp"), b"half").unwrap();
    assert!(matches!(store.load("kafka-t-1"), Err(SinkError::Corrupt { .. })));
    let _ = CheckpointStore::open(dir.path()).unwrap();
    assert!(!store.dir().join("kafka-t-2.ckpt.tmp").exists());
}
