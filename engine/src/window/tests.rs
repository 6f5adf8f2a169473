use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap as Map;

#[test]
fn tumbling_starts_are_epoch_aligned() {
    let spec = WindowSpec::tumbling(60_000);
    assert_eq!(spec.starts(125_000).collect::<Vec<_>>(), vec![120_000]);
    assert_eq!(spec.starts(120_000).collect::<Vec<_>>(), vec![120_000]);
    assert_eq!(spec.starts(-1).collect::<Vec<_>>(), vec![-60_000]);
}

#[test]
fn hopping_event_is_in_width_over_slide_windows() {
    let spec = WindowSpec { width_ms: 300_000, slide_ms: 60_000 };
    assert_eq!(spec.starts(125_000).collect::<Vec<_>>(), vec![120_000, 60_000, 0, -60_000, -120_000]);
}

#[test]
fn close_emits_once_and_refuses_late() {
    let spec = WindowSpec::tumbling(60_000);
    let mut w = RuleWindows::default();
    assert!(w.add(&spec, 10_000, (1, 0), 1, None));
    assert!(w.add(&spec, 70_000, (1, 0), 1, Some(2.0)));
    let mut out = Vec::new();
    w.close_until(&spec, 60_000, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].start_ms, 0);
    assert_eq!(out[0].end_ms, 60_000);
    assert_eq!(out[0].cells, vec![((1, 0), Cell { count: 1, sum: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY })]);
    assert!(!w.add(&spec, 59_999, (1, 0), 1, None), "window [0,60s) is closed");
    assert!(w.is_late(&spec, 59_999));
    assert!(!w.is_late(&spec, 60_000));
    out.clear();
    w.close_until(&spec, 60_500, &mut out);
    assert!(out.is_empty());
    w.close_until(&spec, i64::MAX / 2, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].cells[0].1.sum, 2.0);
}

#[test]
fn cell_is_small() {
    // The target is <= 150 bytes per open cell, all overheads included;
    // the payload is key + cell.
    assert_eq!(std::mem::size_of::<(CellKey, Cell)>(), 40);
}

proptest! {
    /// Windowed aggregates equal a naive computation: for every event and every
    /// window containing it, add to (window, key); with an in-order stream and
    /// a final close, nothing is late and every window comes out once.
    #[test]
    fn windows_equal_naive(
        width_slides in (1i64..6, 1i64..4),
        events in prop::collection::vec((0i64..3_600_000, 0u32..4, prop::option::of(-100.0f64..100.0)), 1..300),
        close_every in 1usize..50,
        // Events over an hour mostly fall in different windows; over a minute, runs of
        // them share a window and key (the pending cell's case).
        span_ms in prop::sample::select(vec![3_600_000i64, 60_000]),
        keys in prop::sample::select(vec![4u32, 1]),
    ) {
        let (mult, slide_s) = width_slides;
        let spec = WindowSpec { width_ms: slide_s * mult * 1000, slide_ms: slide_s * 1000 };
        let mut sorted: Vec<_> = events.iter().map(|&(ts, key, value)| (ts % span_ms, key % keys, value)).collect();
        sorted.sort_by_key(|e| e.0);

        let mut naive: Map<(i64, CellKey), (u64, f64, f64, f64)> = Map::new();
        for &(ts, key, value) in &sorted {
            let mut start = ts.div_euclid(spec.slide_ms) * spec.slide_ms;
            while start + spec.width_ms > ts {
                let e = naive.entry((start, (key, 0))).or_insert((0, 0.0, f64::INFINITY, f64::NEG_INFINITY));
                e.0 += 1;
                if let Some(v) = value { e.1 += v; e.2 = e.2.min(v); e.3 = e.3.max(v); }
                start -= spec.slide_ms;
            }
        }

        let mut w = RuleWindows::default();
        let mut out = Vec::new();
        for (i, &(ts, key, value)) in sorted.iter().enumerate() {
            prop_assert!(w.add(&spec, ts, (key, 0), 1, value));
            if i % close_every == 0 {
                w.close_until(&spec, ts, &mut out); // watermark = newest event, lateness 0
            }
        }
        // Before the last close: what was emitted plus what is still open (as the live
        // view and the checkpoint view each see it) is everything.
        let emitted: Vec<(i64, CellKey, Cell)> =
            out.iter().flat_map(|win| win.cells.iter().map(move |(k, c)| (win.start_ms, *k, *c))).collect();
        let live: Vec<(i64, CellKey, Cell)> = w
            .open_snapshot(&spec)
            .into_iter()
            .flat_map(|win| win.cells.into_iter().map(move |(k, c)| (win.start_ms, k, c)))
            .collect();
        let checkpointed: Vec<(i64, CellKey, Cell)> = w
            .open_cells_iter()
            .flat_map(|(start, cells)| cells.iter().map(|(k, c)| (start, *k, *c)).collect::<Vec<_>>())
            .collect();
        for open in [live, checkpointed] {
            let mut seen: Map<(i64, CellKey), Cell> = Map::new();
            for &(start, k, c) in emitted.iter().chain(&open) {
                prop_assert!(seen.insert((start, k), c).is_none(), "a cell both emitted and open");
            }
            prop_assert_eq!(seen.len(), naive.len());
            for (k, want) in &naive {
                let have = seen[k];
                prop_assert_eq!(have.count, want.0);
                prop_assert!((have.sum - want.1).abs() < 1e-6);
                prop_assert_eq!((have.min, have.max), (want.2, want.3));
            }
        }
        prop_assert_eq!(w.open_cells(), naive.len() - emitted.len());

        w.close_until(&spec, i64::MAX / 4, &mut out);
        let mut got: Map<(i64, CellKey), (u64, f64, f64, f64)> = Map::new();
        for win in out {
            prop_assert_eq!(win.end_ms - win.start_ms, spec.width_ms);
            for (k, c) in win.cells {
                prop_assert!(got.insert((win.start_ms, k), (c.count, c.sum, c.min, c.max)).is_none(), "emitted twice");
            }
        }
        prop_assert_eq!(got.len(), naive.len());
        for (k, want) in &naive {
            let have = got[k];
            prop_assert_eq!(have.0, want.0);
            prop_assert!((have.1 - want.1).abs() < 1e-6);
            prop_assert_eq!(have.2, want.2);
            prop_assert_eq!(have.3, want.3);
        }
    }
}

#[test]
fn timestamps_far_apart_each_land_in_their_own_window() {
    // The cached slide must not be reused when `ts - cached start` would overflow.
    let spec = WindowSpec::tumbling(60_000);
    let mut w = RuleWindows::default();
    for ts in [-5_000_000_000_000_000_000i64, 5_000_000_000_000_000_000, 5_000_000_000_000_000_001] {
        assert!(w.add(&spec, ts, (1, 0), 1, None));
    }
    let starts: Vec<i64> = w.open_cells_iter().map(|(start, _)| start).collect();
    assert_eq!(starts, vec![spec.last_start(-5_000_000_000_000_000_000), spec.last_start(5_000_000_000_000_000_000)]);
    assert_eq!(w.open_cells(), 2);
}

/// A cell's sum is the values added one after another, bit for bit, whether or not the
/// pending cell was written back in between (another key, a checkpoint and restore).
#[test]
fn sums_add_in_order_across_write_backs_and_restores() {
    let spec = WindowSpec::tumbling(60_000);
    let values = [0.1, 0.2, 0.3, 1.0, 2f64.powi(53), -(2f64.powi(53)), 0.7];
    let in_order = values.iter().fold(0.0, |sum, v| sum + v);
    let sum_of = |w: &RuleWindows| {
        w.open_snapshot(&spec)[0].cells.iter().find(|(k, _)| *k == (1, 0)).map(|(_, c)| c.sum).unwrap()
    };
    for interrupt_after in 0..values.len() {
        let mut w = RuleWindows::default();
        for (i, &v) in values.iter().enumerate() {
            assert!(w.add(&spec, 1_000, (1, 0), 1, Some(v)));
            if i == interrupt_after {
                // Another key takes the pending cell, then a checkpoint is restored.
                assert!(w.add(&spec, 1_000, (2, 0), 1, Some(5.0)));
                let open = w.open_cells_iter().map(|(start, cells)| (start, cells.into_owned())).collect();
                w = RuleWindows::restore(w.closed_through(), open);
            }
        }
        assert_eq!(sum_of(&w).to_bits(), in_order.to_bits(), "interrupted after value {interrupt_after}");
        let mut out = Vec::new();
        w.close_until(&spec, 60_000, &mut out);
        let closed = out[0].cells.iter().find(|(k, _)| *k == (1, 0)).unwrap().1;
        assert_eq!((closed.count, closed.sum.to_bits()), (values.len() as u64, in_order.to_bits()));
    }
}
