use super::*;
use proptest::prelude::*;

/// A reader that hands out at most `step` bytes per read, to split lines across reads.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.data.len().min(out.len()).min(self.step);
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// An owned copy of a line, for comparing.
#[derive(Debug, Clone, PartialEq)]
enum Owned {
    Text(u64, String),
    Bad(u64, ErrorReason, String),
}

fn collect<R: Read>(mut r: LineReader<R>) -> Vec<Owned> {
    let mut out = Vec::new();
    while let Some(line) = r.next_line().unwrap() {
        out.push(match line {
            Line::Text { number, text } => Owned::Text(number, text.to_owned()),
            Line::Bad { number, reason, sample } => Owned::Bad(number, reason, sample),
        });
    }
    out
}

fn slice_lines(input: &[u8], max: usize) -> Vec<Owned> {
    SliceLines::new(input, max)
        .map(|line| match line {
            Line::Text { number, text } => Owned::Text(number, text.to_owned()),
            Line::Bad { number, reason, sample } => Owned::Bad(number, reason, sample),
        })
        .collect()
}

/// What the reader must produce, by the simplest means.
fn model(input: &[u8], max: usize) -> Vec<Owned> {
    let mut pieces: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    if input.is_empty() || input.ends_with(b"\n") {
        pieces.pop();
    }
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let n = i as u64 + 1;
            if raw.len() > max {
                return Owned::Bad(n, ErrorReason::TooLong, sample_of(raw));
            }
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            match std::str::from_utf8(line) {
                Ok(t) => Owned::Text(n, t.to_owned()),
                Err(_) => Owned::Bad(n, ErrorReason::Decode, sample_of(line)),
            }
        })
        .collect()
}

#[test]
fn basic_lines() {
    let r = LineReader::new(&b"a\r\nb\n\nlast"[..], DEFAULT_MAX_LINE_BYTES);
    assert_eq!(
        collect(r),
        vec![
            Owned::Text(1, "a".into()),
            Owned::Text(2, "b".into()),
            Owned::Text(3, String::new()),
            Owned::Text(4, "last".into())
        ]
    );
    assert!(collect(LineReader::new(&b""[..], 10)).is_empty());
    assert_eq!(collect(LineReader::new(&b"\n"[..], 10)), vec![Owned::Text(1, String::new())]);
}

#[test]
fn invalid_utf8_and_too_long() {
    let mut input = b"ok\n\xff\xfe bad\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 5000));
    input.extend(b"\nafter\n");
    let mut r = LineReader::with_chunk_size(&input[..], 100, 7);
    let mut got = Vec::new();
    while let Some(line) = r.next_line().unwrap() {
        got.push(format!("{line:?}"));
        // Never more than the limit plus one chunk buffered.
        assert!(r.buf.len() <= 100 + 7, "{}", r.buf.len());
    }
    assert_eq!(r.bytes_read(), input.len() as u64);
    assert_eq!(got.len(), 4);
    assert!(got[1].contains("Decode") && got[1].contains("\u{fffd}"), "{}", got[1]);
    assert!(got[2].contains("TooLong"), "{}", got[2]);
    assert_eq!(got[3], format!("{:?}", Line::Text { number: 4, text: "after" }));
}

#[test]
fn too_long_sample_is_first_bytes() {
    let mut input = vec![b'y'; 10];
    input.extend(vec![b'z'; 3 * SAMPLE_BYTES]);
    let r = LineReader::with_chunk_size(&input[..], 20, 16);
    let lines = collect(r);
    assert_eq!(lines.len(), 1);
    match &lines[0] {
        Owned::Bad(1, ErrorReason::TooLong, s) => {
            assert!(s.starts_with("yyyyyyyyyyz"));
            assert!(s.len() <= SAMPLE_BYTES);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bytes_read_is_next_line_offset() {
    let mut r = LineReader::with_chunk_size(&b"ab\ncde\r\nf"[..], 100, 2);
    assert!(r.next_line().unwrap().is_some());
    assert_eq!(r.bytes_read(), 3);
    assert!(r.next_line().unwrap().is_some());
    assert_eq!(r.bytes_read(), 8);
    assert!(r.next_line().unwrap().is_some());
    assert_eq!(r.bytes_read(), 9);
    assert!(r.next_line().unwrap().is_none());
    assert!(r.next_line().unwrap().is_none());
}

#[test]
fn io_errors_are_reported_and_reading_resumes() {
    /// Interrupted on its first read (retried, not reported), fails once in the middle
    /// of a long line, then goes on.
    struct Flaky {
        data: Vec<u8>,
        pos: usize,
        calls: u32,
        failed: bool,
    }
    impl Read for Flaky {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls == 1 {
                return Err(io::ErrorKind::Interrupted.into());
            }
            if self.pos >= 30 && !self.failed {
                self.failed = true;
                return Err(io::Error::other("boom"));
            }
            let n = (self.data.len() - self.pos).min(out.len()).min(10);
            out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }
    let mut data = vec![b'q'; 50];
    data.extend(b"\nnext\n");
    let mut r = LineReader::with_chunk_size(Flaky { data, pos: 0, calls: 0, failed: false }, 20, 10);
    assert!(r.next_line().is_err());
    match r.next_line().unwrap() {
        Some(Line::Bad { number: 1, reason: ErrorReason::TooLong, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(r.next_line().unwrap(), Some(Line::Text { number: 2, text: "next" }));
    assert_eq!(r.next_line().unwrap(), None);
}

proptest! {
    #[test]
    fn matches_split_model(
        input in proptest::collection::vec(prop_oneof![
            4 => proptest::char::range('a', 'e').prop_map(|c| c as u8),
            2 => Just(b'\n'),
            1 => Just(b'\r'),
            1 => Just(0xc3u8),
            1 => Just(0xa9u8),
            // The lead and continuation bytes of `€` (e2 82 ac), for 3-byte characters
            // cut by reads, lines and bad bytes.
            1 => Just(0xe2u8),
            1 => Just(0x82u8),
            1 => any::<u8>(),
        ], 0..300),
        max in 0usize..40,
        chunk in 1usize..50,
        step in 1usize..50,
    ) {
        let r = LineReader::with_chunk_size(Trickle { data: &input, step }, max, chunk);
        let got = collect(r);
        let want = model(&input, max);
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(slice_lines(&input, max), want);
        // The same input made valid UTF-8 (bad bytes replaced), so that both readers
        // take their checked-once paths: too-long lines and `\r` must still be handled.
        let valid = String::from_utf8_lossy(&input).into_owned().into_bytes();
        let want = model(&valid, max);
        prop_assert_eq!(slice_lines(&valid, max), want.clone());
        let r = LineReader::with_chunk_size(Trickle { data: &valid, step }, max, chunk);
        prop_assert_eq!(collect(r), want);
    }
}
