use super::*;
use proptest::prelude::*;
use proptest::strategy::Strategy;

fn matcher(specs: &[PatternSpec]) -> MultiMatcher {
    MultiMatcher::new(specs, &MatcherConfig::default()).unwrap()
}

fn find(m: &MultiMatcher, hay: &str) -> Vec<u32> {
    let mut scratch = m.new_scratch();
    let mut out = Vec::new();
    m.find(hay, &mut scratch, &mut out);
    out
}

#[test]
fn mixes_literals_regexes_and_fallback() {
    let m = matcher(&[
        PatternSpec::Literal("Invalid user".into()),
        PatternSpec::Regex(r"Failed password for (invalid user )?(?P<user>\S+)".into()),
        PatternSpec::Regex(r"\d{3}".into()),
        PatternSpec::Regex(r"(?i)\b(error|fatal)\b".into()),
    ]);
    assert_eq!(m.strategy(0), super::Strategy::ExactLiteral);
    assert!(matches!(m.strategy(1), super::Strategy::LiteralThenVerify | super::Strategy::PrefixThenVerify));
    assert_eq!(m.strategy(2), super::Strategy::Always);
    assert_eq!(find(&m, "Invalid user bob from 1.2.3.4"), vec![0]);
    assert_eq!(find(&m, "Failed password for root from 10.0.0.1 port 22"), vec![1]);
    assert_eq!(find(&m, "FATAL: code 500"), vec![2, 3]);
    assert_eq!(find(&m, "errors are not error-free"), vec![3]);
    assert_eq!(find(&m, "errors"), Vec::<u32>::new());
    assert_eq!(find(&m, ""), Vec::<u32>::new());
}

#[test]
fn prefix_verification_starts_at_the_earliest_literal() {
    // Both literals of pattern 0 are prefixes; the shorter one ends first but
    // starts later, so the earliest start must be tracked, not the first reported.
    let m = matcher(&[PatternSpec::Regex(r"(abcd|cd)\d".into())]);
    assert_eq!(m.strategy(0), super::Strategy::PrefixThenVerify);
    assert_eq!(find(&m, "abcd1"), vec![0]);
    assert_eq!(find(&m, "abcdx cd2"), vec![0]);
    assert_eq!(find(&m, "abcdx cdy"), Vec::<u32>::new());
}

#[test]
fn shared_literals_report_every_owner_once() {
    let m = matcher(&[
        PatternSpec::Literal("GET".into()),
        PatternSpec::Literal("GET".into()),
        PatternSpec::Regex("GET /api".into()),
    ]);
    assert_eq!(find(&m, "GET /api GET"), vec![0, 1, 2]);
    assert_eq!(find(&m, "GET /"), vec![0, 1]);
}

#[test]
fn counts_non_overlapping_leftmost() {
    let m = matcher(&[PatternSpec::Literal("aa".into()), PatternSpec::Regex("a+".into())]);
    assert_eq!(m.pattern(0).count("aaaaa"), 2);
    assert_eq!(m.pattern(1).count("aa b aaa"), 2);
}

#[test]
fn oversized_regex_is_refused_quickly() {
    let started = std::time::Instant::now();
    let err = MultiMatcher::new(
        &[PatternSpec::Literal("ok".into()), PatternSpec::Regex(r"(\w{500}){500}".into())],
        &MatcherConfig::default(),
    )
    .unwrap_err();
    assert_eq!(err.pattern, 1);
    assert!(err.message.contains("limit of 10 MiB"), "{}", err.message);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn deep_nesting_is_refused() {
    let pattern = format!("{}a{}", "(".repeat(500), ")".repeat(500));
    let err = MultiMatcher::new(&[PatternSpec::Regex(pattern)], &MatcherConfig::default()).unwrap_err();
    assert!(err.message.contains("nest"), "{}", err.message);
}

#[test]
fn syntax_error_has_offset() {
    let err = MultiMatcher::new(&[PatternSpec::Regex("ab(c".into())], &MatcherConfig::default()).unwrap_err();
    assert_eq!(err.offset, Some(2));
}

#[test]
fn many_rules_stay_correct() {
    let specs: Vec<PatternSpec> = (0..10_000)
        .map(|i| {
            if i % 2 == 0 {
                PatternSpec::Literal(format!("tok{i}x"))
            } else {
                PatternSpec::Regex(format!(r"tok{i}y\d+"))
            }
        })
        .collect();
    let m = matcher(&specs);
    assert_eq!(find(&m, "a tok42x b tok43y7 tok45y"), vec![42, 43]);
}

fn pattern_strategy() -> impl Strategy<Value = PatternSpec> {
    let atoms = prop::sample::select(vec![
        "ab", "abc", "b", "ca", "err", "error", "ERROR", "x", "a", "bc", "fail", "user", "=",
    ]);
    let regexes = prop::sample::select(vec![
        r"a+b",
        r"ab|ca",
        r"(?i)error",
        r"\berr\b",
        r"fail(ed)? user",
        r"\d+",
        r"user=(?P<u>\w+)",
        r"a.c",
        r"x{2,}",
        r"^ab",
        r"b$",
        r"(ab)+c?",
        r"[a-c]{3}",
        r"err(or)?\s+\d",
        r"a|=",
    ]);
    prop_oneof![
        atoms.prop_map(|s| PatternSpec::Literal(s.to_string())),
        regexes.prop_map(|s| PatternSpec::Regex(s.to_string())),
    ]
}

fn line_strategy() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "a", "b", "c", "ab", "abc", "err", "error", "ERROR", "Error", " ", "x", "xx", "fail", "failed", "user", "=",
        "1", "42", "é", "\t",
    ]);
    prop::collection::vec(piece, 0..20).prop_map(|v| v.concat())
}

proptest! {
    /// The one-pass matcher reports exactly the patterns that match when each
    /// is evaluated alone (with the independent `regex` crate), and counts
    /// non-overlapping occurrences the same way.
    #[test]
    fn one_pass_equals_each_pattern_alone(
        specs in prop::collection::vec(pattern_strategy(), 1..40),
        lines in prop::collection::vec(line_strategy(), 1..20),
    ) {
        let m = matcher(&specs);
        let reference: Vec<regex::Regex> = specs.iter().map(|s| match s {
            PatternSpec::Literal(t) => regex::Regex::new(&regex::escape(t)).unwrap(),
            PatternSpec::Regex(r) => regex::Regex::new(r).unwrap(),
        }).collect();
        let mut scratch = m.new_scratch();
        for line in &lines {
            let mut got = Vec::new();
            m.find(line, &mut scratch, &mut got);
            let want: Vec<u32> = reference.iter().enumerate()
                .filter(|(_, r)| r.is_match(line)).map(|(i, _)| i as u32).collect();
            prop_assert_eq!(&got, &want, "line {:?}", line);
            for (i, r) in reference.iter().enumerate() {
                prop_assert_eq!(m.pattern(i).count(line), r.find_iter(line).count() as u64);
            }
        }
    }
}
