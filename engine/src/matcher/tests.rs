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
    pattern_strategy_from(vec!["ab", "abc", "b", "ca", "err", "error", "ERROR", "x", "a", "bc", "fail", "user", "="])
}

/// Patterns whose literals are all 2 bytes or longer, so that the prefixed scan applies.
fn prefixable_pattern_strategy() -> impl Strategy<Value = PatternSpec> {
    // `failed password for`: a literal whose tail after its prefix is longer than the
    // eight bytes compared at a time.
    pattern_strategy_from(vec![
        "ab",
        "abc",
        "ca",
        "err",
        "error",
        "ERROR",
        "bc",
        "fail",
        "user",
        "a=",
        "xx",
        "failed",
        "failed password for",
    ])
}

fn pattern_strategy_from(atoms: Vec<&'static str>) -> impl Strategy<Value = PatternSpec> {
    let atoms = prop::sample::select(atoms);
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
        r"error\s*\d",
        r"fail\b",
        r"abc\w+",
        r"ab(?P<n>\d+)x?",
        r"user=\d",
    ]);
    prop_oneof![
        atoms.prop_map(|s| PatternSpec::Literal(s.to_string())),
        regexes.prop_map(|s| PatternSpec::Regex(s.to_string())),
    ]
}

fn line_strategy() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "a",
        "b",
        "c",
        "ab",
        "abc",
        "err",
        "error",
        "ERROR",
        "Error",
        " ",
        "x",
        "xx",
        "fail",
        "failed",
        "user",
        "=",
        "1",
        "42",
        "é",
        "\t",
        "failed password for",
        "failed passwore for",
        "failed pXssword for",
        "fai",
    ]);
    prop::collection::vec(piece, 0..20).prop_map(|v| v.concat())
}

/// Checks `find`, `count` and `match_start` against each pattern evaluated alone
/// with the independent `regex` crate.
fn check_against_reference(
    specs: &[PatternSpec],
    lines: &[String],
    config: &MatcherConfig,
) -> Result<(), TestCaseError> {
    let m = MultiMatcher::new(specs, config).unwrap();
    let reference: Vec<regex::Regex> = specs
        .iter()
        .map(|s| match s {
            PatternSpec::Literal(t) => regex::Regex::new(&regex::escape(t)).unwrap(),
            PatternSpec::Regex(r) => regex::Regex::new(r).unwrap(),
        })
        .collect();
    let mut scratch = m.new_scratch();
    for line in lines {
        let mut got = Vec::new();
        m.find(line, &mut scratch, &mut got);
        let want: Vec<u32> =
            reference.iter().enumerate().filter(|(_, r)| r.is_match(line)).map(|(i, _)| i as u32).collect();
        prop_assert_eq!(&got, &want, "line {:?}", line);
        for &p in &got {
            if let Some(start) = scratch.match_start(p) {
                let leftmost = reference[p as usize].find(line).unwrap().start();
                prop_assert_eq!(start, leftmost, "pattern {} line {:?}", p, line);
            }
        }
        for (i, r) in reference.iter().enumerate() {
            prop_assert_eq!(m.pattern(i).count(line), r.find_iter(line).count() as u64);
        }
    }
    Ok(())
}

proptest! {
    /// The one-pass matcher reports exactly the patterns that match when each
    /// is evaluated alone (with the independent `regex` crate), and counts
    /// non-overlapping occurrences the same way; with either literal scan.
    #[test]
    fn one_pass_equals_each_pattern_alone(
        specs in prop::collection::vec(pattern_strategy(), 1..40),
        lines in prop::collection::vec(line_strategy(), 1..20),
    ) {
        check_against_reference(&specs, &lines, &MatcherConfig::default())?;
        check_against_reference(&specs, &lines, &MatcherConfig { prefix_scan: false, ..MatcherConfig::default() })?;
    }

    /// The same, for pattern sets that the prefixed scan (Teddy plus anchored
    /// walks, and anchored checks at each occurrence) always takes, confirming
    /// literals with a DFA and with an NFA.
    #[test]
    fn prefixed_scan_equals_each_pattern_alone(
        specs in prop::collection::vec(prefixable_pattern_strategy(), 1..40),
        lines in prop::collection::vec(line_strategy(), 1..20),
    ) {
        let m = matcher(&specs);
        if let Some(scan) = m.summary().literal_scan {
            prop_assert!(scan.prefixed.is_some(), "{:?}", specs);
        }
        check_against_reference(&specs, &lines, &MatcherConfig::default())?;
        check_against_reference(&specs, &lines, &MatcherConfig { confirm_dfa_max_bytes: 0, ..MatcherConfig::default() })?;
        // Every prefix walked, and every prefix's longer literals compared instead.
        check_against_reference(&specs, &lines, &MatcherConfig { compare_tails_max: 0, ..MatcherConfig::default() })?;
        check_against_reference(&specs, &lines, &MatcherConfig { compare_tails_max: usize::MAX, ..MatcherConfig::default() })?;
    }
}

#[test]
fn the_prefixed_scan_is_chosen_when_prefixes_collapse() {
    // 200 literals with 2 distinct 4-byte stems: a SIMD search for the stems.
    let specs: Vec<PatternSpec> = (0..200)
        .map(|i| {
            if i % 2 == 0 {
                PatternSpec::Literal(format!("/svc{i}/"))
            } else {
                PatternSpec::Regex(format!(r"GET /x{i}/\d+"))
            }
        })
        .collect();
    let m = matcher(&specs);
    let scan = m.summary().literal_scan.unwrap();
    assert!(matches!(scan.prefixed, Some((_, n)) if n <= 32), "{scan:?}");
    assert_eq!(m.summary().anchored_checks, 1, "the regexes share one tail check");
    assert_eq!(find(&m, "GET /x13/42 /svc10/ /svc1/"), vec![10, 13]);
    assert_eq!(find(&m, "GET /x13/ /svc1"), Vec::<u32>::new());
    // One-byte literals would make every byte a candidate: the overlapping automaton instead.
    let m = matcher(&[PatternSpec::Literal("=".into()), PatternSpec::Literal("ab".into())]);
    assert_eq!(m.summary().literal_scan.unwrap().prefixed, None);
    assert_eq!(find(&m, "x=ab"), vec![0, 1]);
}
