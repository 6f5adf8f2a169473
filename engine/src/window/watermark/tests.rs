use super::*;

#[test]
fn newest_event_less_lateness_without_clock() {
    let mut w = Watermark::new(1_000);
    assert_eq!(w.current(None), None);
    w.observe(10_000, 0);
    assert_eq!(w.current(None), Some(9_000));
    w.observe(5_000, 0); // out of order: newest stays
    assert_eq!(w.current(None), Some(9_000));
    w.observe(20_000, 0);
    assert_eq!(w.current(None), Some(19_000));
    assert_eq!(w.newest_event(), Some(20_000));
}

#[test]
fn the_clock_never_moves_back() {
    let mut w = Watermark::new(0);
    w.observe(100_000, 20_000);
    // An older event, stamped with an earlier processing time: neither time moves back.
    w.observe(50_000, 5_000);
    assert_eq!(w.clock(), Some(LaneClock { max_event_ms: 100_000, last_arrival_ms: 20_000 }));
    assert_eq!(w.current(Some(30_000)), Some(110_000));
    // A processing time before the last arrival does not pull the watermark back.
    assert_eq!(w.current(Some(10_000)), Some(100_000));
    // A restored clock is the clock that was saved.
    let mut restored = Watermark::new(0);
    restored.restore(w.clock().unwrap());
    assert_eq!(restored.current(Some(30_000)), w.current(Some(30_000)));
}

#[test]
fn quiet_stream_moves_with_the_clock() {
    let mut w = Watermark::new(30_000);
    w.observe(1_000_000, 500);
    assert_eq!(w.current(Some(500)), Some(970_000));
    // 40 s of silence: the watermark moved 40 s.
    assert_eq!(w.current(Some(40_500)), Some(1_010_000));
}
