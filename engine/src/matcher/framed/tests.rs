use proptest::prelude::*;
use regex_automata::{Input, MatchKind};

use super::*;
use crate::matcher::build_regex;

#[test]
fn only_literals_around_one_group_are_framed() {
    let framed = |pattern: &str| FramedCapture::new(&regex_syntax::parse(pattern).unwrap(), &MatcherConfig::default());
    for pattern in [r#"" (?P<status>[45]\d\d) "#, r"id=(\d+)", r"(a+)b", r"x(y|z)"] {
        assert!(framed(pattern).is_some(), "{pattern}");
    }
    for pattern in [r"(a)(b)", r"((a)b)", r"a\d+(b)", r"\b(ab)", r"(ab)|c", r"ab"] {
        assert!(framed(pattern).is_none(), "{pattern}");
    }
}

proptest! {
    /// The framed captures equal the regex's own anchored capture search.
    #[test]
    fn framed_captures_equal_the_regex(
        pattern in prop::sample::select(vec![
            r#"" (?P<status>[45]\d\d) "#, r"id=(\d+)", r"(a+)b", r"x(y|z)", r"a(b*)", r"(ab|a)", r"=([a-z]+)=", r"(é\d)x",
        ]),
        pieces in prop::collection::vec(prop::sample::select(vec![
            "a", "b", "x", "y", "z", "=", "\" ", " ", "404", "5", "id=", "12", "é",
        ]), 0..14),
    ) {
        let hay = pieces.concat();
        let hir = regex_syntax::parse(pattern).unwrap();
        let framed = FramedCapture::new(&hir, &MatcherConfig::default()).unwrap();
        let regex = build_regex(std::slice::from_ref(&hir), MatchKind::LeftmostFirst, &MatcherConfig::default()).unwrap();
        let (mut got, mut want) = (regex.create_captures(), regex.create_captures());
        for start in (0..=hay.len()).filter(|&at| hay.is_char_boundary(at)) {
            regex.search_captures(&Input::new(&hay).range(start..).anchored(Anchored::Yes), &mut want);
            let matched = framed.captures_at(&hay, start, &mut got);
            prop_assert_eq!(matched, want.is_match(), "{} in {:?} at {}", pattern, hay, start);
            if matched {
                prop_assert_eq!(got.slots(), want.slots(), "{} in {:?} at {}", pattern, hay, start);
            }
        }
    }
}
