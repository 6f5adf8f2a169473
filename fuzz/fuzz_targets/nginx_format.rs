//! An nginx `log_format` and an access line: `FORMAT\nLINE`. The format is compiled and,
//! if it compiles, the line (everything after the first newline) is parsed with it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (format, line) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(compiled) = ingest::nginx::LogFormat::compile(format) else { return };
    let _ = compiled.field_names();
    let _ = compiled.parse(line);
});
