//! A rule file, parsed and compiled: errors are fine, a panic or a hang is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Rule files are read as text: bytes that are not UTF-8 never reach the parser.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = engine::compile(&[engine::SourceFile::new("fuzz.toml", text)]);
});
