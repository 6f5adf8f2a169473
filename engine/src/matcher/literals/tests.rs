use super::*;

fn req(pattern: &str) -> Option<RequiredLiterals> {
    required_literals(&regex_syntax::parse(pattern).unwrap())
}

fn lits(pattern: &str) -> Vec<String> {
    let mut v: Vec<String> =
        req(pattern).unwrap().literals.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect();
    v.sort();
    v
}

#[test]
fn plain_literal_is_exact() {
    let r = req("Invalid user").unwrap();
    assert!(r.exact);
    assert_eq!(r.literals, vec![b"Invalid user".to_vec()]);
}

#[test]
fn alternation_of_literals_is_exact() {
    let r = req("error|fatal").unwrap();
    assert!(r.exact);
    assert_eq!(lits("error|fatal"), ["error", "fatal"]);
}

#[test]
fn picks_the_longest_piece_of_a_concatenation() {
    let r = req(r"\d+ Failed password for (?P<user>\S+)").unwrap();
    assert!(!r.exact);
    assert_eq!(lits(r"\d+ Failed password for (?P<user>\S+)"), [" Failed password for "]);
}

#[test]
fn look_around_is_never_exact() {
    let r = req(r"\berror\b").unwrap();
    assert!(!r.exact);
}

#[test]
fn case_insensitive_expands() {
    let r = req("(?i)fatal").unwrap();
    assert!(r.literals.len() > 1);
    assert!(r.literals.contains(&b"FATAL".to_vec()) || r.literals.iter().any(|l| l.starts_with(b"FA")));
}

#[test]
fn no_literal() {
    assert!(req(r"\d+").is_none());
    assert!(req(r"a*").is_none());
    assert!(req(r".").is_none());
}

#[test]
fn optional_piece_is_not_required() {
    // "foo" is optional; "bar" is required.
    assert_eq!(lits("(foo)?bar"), ["bar"]);
}
