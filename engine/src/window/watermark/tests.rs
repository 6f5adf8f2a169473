use super::*;

#[test]
fn minimum_over_lanes_without_clock() {
    let mut w = Watermark::new(1_000, 60_000);
    assert_eq!(w.current(None), None);
    w.observe(0, 10_000, 0);
    w.observe(1, 5_000, 0);
    assert_eq!(w.current(None), Some(4_000));
    w.observe(1, 20_000, 0);
    assert_eq!(w.current(None), Some(9_000));
    w.observe(0, 3_000, 0); // out of order: newest stays
    assert_eq!(w.current(None), Some(9_000));
}

#[test]
fn idle_lane_stops_holding_back() {
    let mut w = Watermark::new(0, 10_000);
    w.observe(0, 100_000, 0);
    w.observe(1, 50_000, 0);
    // Both active at now=5s: lane 1 (50s + 5s) holds back.
    assert_eq!(w.current(Some(5_000)), Some(55_000));
    // Lane 0 keeps delivering; lane 1 has been quiet past idle_timeout.
    w.observe(0, 120_000, 20_000);
    assert_eq!(w.current(Some(20_000)), Some(120_000));
}

#[test]
fn quiet_stream_moves_with_the_clock() {
    let mut w = Watermark::new(30_000, 10_000);
    w.observe(0, 1_000_000, 500);
    assert_eq!(w.current(Some(500)), Some(970_000));
    // 40 s of silence: the watermark moved 40 s.
    assert_eq!(w.current(Some(40_500)), Some(1_010_000));
}
