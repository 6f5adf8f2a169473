//! A `filter`/`when` expression: parse, check that `Display` round-trips, bind and
//! evaluate (all inside `engine::expr::fuzz_parse`, which panics only on a bug).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    engine::expr::fuzz_parse(src);
});
