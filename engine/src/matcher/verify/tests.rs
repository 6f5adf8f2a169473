use proptest::prelude::*;

use super::*;

proptest! {
    /// A check says whether a match starts exactly at the given offset, as an
    /// anchored search of the whole pattern says (a false "no" would be hidden by
    /// the matcher's unanchored fallback, so it is tested here, alone).
    #[test]
    fn is_match_at_equals_an_anchored_search(
        pattern in prop::sample::select(vec![
            r"\d+ HTTP", r"\w+", r"a+b", r"(ab)+c?", r"x{2,}", r"\d*", r"b$", r"\bab", r"[a-c]{3}", r"é\d", r"(?i)err",
        ]),
        pieces in prop::collection::vec(prop::sample::select(vec![
            "a", "b", "c", "ab", "x", "xx", " ", "1", "42", " HTTP", "é", "err", "ERR",
        ]), 0..12),
    ) {
        let hay = pieces.concat();
        let hir = regex_syntax::parse(pattern).unwrap();
        let check = Check::new(&hir, &MatcherConfig::default()).unwrap();
        // Only look-behind at the start (here `\b`) makes the start state depend on the byte before.
        if let Check::Dfa { universal_start, .. } = &check {
            prop_assert_eq!(universal_start.is_some(), !pattern.starts_with(r"\b"), "{}", pattern);
        }
        let reference = Regex::new(pattern).unwrap();
        for at in (0..=hay.len()).filter(|&at| hay.is_char_boundary(at)) {
            let want = reference.is_match(Input::new(&hay).range(at..).anchored(Anchored::Yes));
            prop_assert_eq!(check.is_match_at(&hay, at), want, "{} in {:?} at {}", pattern, hay, at);
        }
    }
}
