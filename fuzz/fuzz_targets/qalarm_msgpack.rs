//! Qalarm MessagePack: the same bytes as one event, as one Kafka message, and as a file
//! of concatenated values. Errors are fine; a panic, a hang or an OOM is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ingest::qalarm::decode_event(data);
    let _ = ingest::qalarm::decode_message(data);
    let mut last = 0;
    for (offset, _result) in ingest::qalarm::StreamDecoder::new(data) {
        // Offsets are where values start: inside the input, never going back.
        assert!(offset < data.len(), "offset {offset} past the end of {} bytes", data.len());
        assert!(offset >= last, "offset went back from {last} to {offset}");
        last = offset;
    }
});
