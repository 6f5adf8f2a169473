//! Heap bytes per open (rule, window, host, key) cell, measured with a
//! counting global allocator (so every overhead is included: hash tables,
//! tree nodes, interned host and key strings).
//! `cargo run --release -p engine --example cell_memory -- CELLS`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use engine::{Engine, RecordMeta, SourceFile};
use ingest::Event;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const RULES: &str = r#"
[[stream]]
name = "app"
lateness = "1h"

[[rule]]
name = "per_host"
stream = "app"
match = "GET"

[[rule]]
name = "per_user"
stream = "app"
regex = 'user=(?P<user>\w+)'
group_by = ["host", "user"]
"#;

fn main() {
    let cells: usize = std::env::args().nth(1).map_or(100_000, |a| a.parse().expect("CELLS"));
    let set = Arc::new(engine::compile(&[SourceFile::new("m.toml", RULES)]).expect("compiles"));
    let hosts: Vec<String> = (0..cells / 2).map(|i| format!("web-{i:05}.dc1.example.com")).collect();
    let lines: Vec<String> = (0..cells / 2).map(|i| format!("GET /x user=u{i:06}")).collect();
    let mut engine = Engine::new(Arc::clone(&set));
    let before = LIVE.load(Ordering::Relaxed);
    // Half the cells: one per host for `per_host`; the other half: one per
    // (host, user) for `per_user`. All in one open 1-minute window.
    for (i, line) in lines.iter().enumerate() {
        let event = Event { text: line.as_str().into(), ..Default::default() };
        let t = 1_700_000_000_000;
        let meta = RecordMeta { default_host: &hosts[i], default_time_ms: t, now_ms: t };
        engine.process(0, &event, &meta, String::new);
    }
    let after = LIVE.load(Ordering::Relaxed);
    let open = engine.open_cells();
    println!(
        "{open} open cells: {} heap bytes in all, {:.1} bytes per cell (engine's own estimate: {:.1})",
        after - before,
        (after - before) as f64 / open as f64,
        engine.state_bytes() as f64 / open as f64
    );
}
