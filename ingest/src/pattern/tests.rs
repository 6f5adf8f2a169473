use super::*;
use crate::time::CACHED_TEXT_BYTES;

proptest::proptest! {
    /// The word-wise compare is `starts_with`, for literals up to past the parse
    /// cache's longest text, differing from the text at any one byte or not at all, and
    /// texts shorter and longer than the literal.
    #[test]
    fn starts_with_short_is_starts_with(
        literal in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..=CACHED_TEXT_BYTES + 9),
        flip in proptest::option::of((0usize..CACHED_TEXT_BYTES + 9, 1u8..=255)),
        cut in 0usize..4,
        extra in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4),
    ) {
        let mut hay = literal.clone();
        if let Some((at, bits)) = flip.filter(|(at, _)| *at < hay.len()) {
            hay[at] ^= bits;
        }
        hay.truncate(hay.len().saturating_sub(cut));
        hay.extend(extra);
        proptest::prop_assert_eq!(starts_with_short(&hay, &literal), hay.starts_with(&literal));
    }

    /// Captures through the anchored tries at each leading byte (with the one-pass
    /// DFA, or with a dense DFA for a group framed by literals) equal an unanchored
    /// capture search, whatever the line (many leading bytes, none, false starts).
    #[test]
    fn leading_byte_search_equals_the_plain_search(
        pattern in proptest::sample::select(vec![
            r"\[([^\]]+)\]", r"(?:at|on) (\d+)", r"\b(ab+)c", r"[xy]=(\w*)", r"^(a)", r"(b)$",
            r"at=(\d+)", r"(ab+)", r"\[(\w*)\]x", r"=(\w*)", r"\[([a-z]*)\]x", r"=([a-c]*)",
            r"\[([^\]]*)\]", r"a([^b]+)b=", r"\[([^\]x]+)\]", r"=([^=]+)=", r"\[([^\]]{2,})\]",
        ]),
        pieces in proptest::collection::vec(proptest::sample::select(vec![
            "[", "]", "a", "b", "c", "x", "y", "=", " ", "at ", "on ", "1", "42", "é", "b=", "]]",
        ]), 0..24),
    ) {
        let line = pieces.concat();
        let fast = LineRegex::new(pattern).unwrap();
        let plain = LineRegex { regex: compile_regex(pattern).unwrap(), leading: None, framed: None };
        if pattern.starts_with(r"\[") || pattern.starts_with("(?:") {
            proptest::prop_assert!(fast.leading.is_some(), "{}", pattern);
        }
        // (`\w` is too big a class for the framed group's small dense DFA.)
        if [r"\[([^\]]+)\]", r"at=(\d+)", r"(ab+)", r"\[([a-z]*)\]x", r"=([a-c]*)"].contains(&pattern) {
            proptest::prop_assert!(fast.framed.is_some(), "{}", pattern);
        }
        let delimited = [r"\[([^\]]+)\]", r"\[([^\]]*)\]", r"a([^b]+)b=", r"=([^=]+)="];
        let is_delimited = fast.framed.as_ref().is_some_and(|framed| matches!(framed.end, FrameEnd::DelimitedRun(_)));
        proptest::prop_assert_eq!(is_delimited, delimited.contains(&pattern), "{}", pattern);
        proptest::prop_assert_eq!(fast.capture(&line, 1), plain.capture(&line, 1));
    }
}
