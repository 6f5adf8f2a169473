use super::*;
use proptest::prelude::*;

/// Binds names to slots in the order given and evaluates.
fn eval_with(src: &str, vars: &[(&str, Option<Value<'_>>)]) -> bool {
    let expr = parse(src).unwrap_or_else(|e| panic!("{src:?}: {e} at {}", e.offset));
    let bound = expr.bind(|name| vars.iter().position(|(n, _)| *n == name)).unwrap_or_else(|e| panic!("{src:?}: {e}"));
    let values: Vec<Option<Value<'_>>> = vars.iter().map(|(_, v)| *v).collect();
    bound.eval_values(&values)
}

/// The three-valued answer, read from `e` and `not (e)`.
fn truth(src: &str, vars: &[(&str, Option<Value<'_>>)]) -> Option<bool> {
    let yes = eval_with(src, vars);
    let no = eval_with(&format!("not ({src})"), vars);
    match (yes, no) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        (false, false) => None,
        (true, true) => panic!("{src:?} is both true and false"),
    }
}

fn t(src: &str) -> Option<bool> {
    truth(src, &[])
}

fn x(src: &str, v: Option<Value<'_>>) -> Option<bool> {
    truth(src, &[("x", v)])
}

fn num(n: f64) -> Option<Value<'static>> {
    Some(Value::Number(n))
}

fn text(s: &str) -> Option<Value<'_>> {
    Some(Value::Text(s))
}

fn nt(n: f64, s: &str) -> Option<Value<'_>> {
    Some(Value::NumberText(n, s))
}

#[track_caller]
fn fails(src: &str, offset: usize, message: &str) {
    match parse(src) {
        Ok(e) => panic!("{src:?} parsed as {e}"),
        Err(e) => {
            assert_eq!(e.message, message, "message for {src:?}");
            assert_eq!(e.offset, offset, "offset for {src:?} ({message})");
        }
    }
}

#[track_caller]
fn fails_with_prefix(src: &str, offset: usize, prefix: &str) {
    let e = parse(src).expect_err(src);
    assert!(e.message.starts_with(prefix), "{src:?}: {:?}", e.message);
    assert_eq!(e.offset, offset, "offset for {src:?}");
}

fn shown(src: &str) -> String {
    parse(src).unwrap_or_else(|e| panic!("{src:?}: {e}")).to_string()
}

// ---- literals -------------------------------------------------------------

#[test]
fn number_literals() {
    assert_eq!(t("500 == 500"), Some(true));
    assert_eq!(t("-1.5 < 0"), Some(true));
    assert_eq!(t("-1.5 == 0 - 1.5"), Some(true));
    assert_eq!(t("1e3 == 1000"), Some(true));
    assert_eq!(t("2E2 == 200"), Some(true));
    assert_eq!(t("1.5e-3 == 0.0015"), Some(true));
    assert_eq!(t("1e+2 == 100"), Some(true));
    assert_eq!(t("007 == 7"), Some(true));
}

#[test]
fn string_literals_and_escapes() {
    assert_eq!(t("'prod' == 'prod'"), Some(true));
    assert_eq!(x(r"x == 'it\'s'", text("it's")), Some(true));
    assert_eq!(x(r"x == 'a\\b'", text(r"a\b")), Some(true));
    // Other escapes are kept as written.
    assert_eq!(x(r"x == 'a\nb'", text(r"a\nb")), Some(true));
    assert_eq!(x("x == ''", text("")), Some(true));
    assert_eq!(x("x == 'héllo wörld'", text("héllo wörld")), Some(true));
}

#[test]
fn identifiers_and_whitespace() {
    let e = parse("req.status >= 500 and\n\treq.path.v2 == 'x' or _a1 < 2 and req.status != 3").unwrap();
    assert_eq!(
        e.identifiers(),
        vec![("req.status".to_string(), 0), ("req.path.v2".to_string(), 23), ("_a1".to_string(), 45)]
    );
    // Keywords inside a dotted path are plain segments.
    assert_eq!(parse("a.in == 1 and b.1 == 2").unwrap().identifiers().len(), 2);
    // Keywords are case-sensitive: `IN` is a name.
    assert_eq!(parse("IN == 1").unwrap().identifiers(), vec![("IN".to_string(), 0)]);
}

#[test]
fn identifiers_in_order_of_first_use() {
    let e = parse("b > 1 and (a < 2 or b == 3) and c in [1] and a matches 'x'").unwrap();
    let names: Vec<_> = e.identifiers();
    assert_eq!(names, vec![("b".into(), 0), ("a".into(), 11), ("c".into(), 32)]);
}

// ---- comparisons ----------------------------------------------------------

#[test]
fn numeric_comparisons() {
    let s = nt(404.0, "404");
    assert_eq!(x("x == 404", s), Some(true));
    assert_eq!(x("x != 404", s), Some(false));
    assert_eq!(x("x < 404", s), Some(false));
    assert_eq!(x("x <= 404", s), Some(true));
    assert_eq!(x("x > 403.5", s), Some(true));
    assert_eq!(x("x >= 405", s), Some(false));
    // Literal on the left.
    assert_eq!(x("500 <= x", s), Some(false));
    assert_eq!(x("500 > x", s), Some(true));
    assert_eq!(x("404 == x", s), Some(true));
    // Both sides fields.
    let vars = [("a", num(1.0)), ("b", nt(2.0, "2"))];
    assert!(eval_with("a < b", &vars));
    assert!(!eval_with("a == b", &vars));
}

#[test]
fn number_against_text() {
    assert_eq!(x("x == 42", text(" 42 ")), Some(true));
    assert_eq!(x("x > 41.5", text("42")), Some(true));
    assert_eq!(x("x == 42", text("abc")), None);
    assert_eq!(x("x != 42", text("abc")), None);
    assert_eq!(x("x < 1", text("")), None);
    // A computed number reads a string literal as a number too.
    assert_eq!(t("1 + 1 == '2'"), Some(true));
    assert_eq!(t("'2' == 2"), Some(true));
    assert_eq!(t("' 2 ' < 3"), Some(true));
    assert_eq!(t("'abc' == 2"), None);
    assert_eq!(x("x + 0 == 'abc'", num(1.0)), None);
    // A numeric field against a text field: the text is read as a number.
    assert!(eval_with("a == b", &[("a", nt(200.0, "200")), ("b", text("200.0"))]));
    assert_eq!(truth("a == b", &[("a", num(1.0)), ("b", text("x"))]), None);
}

#[test]
fn string_literal_against_fields_compares_text() {
    assert_eq!(x("x == '404'", nt(404.0, "404")), Some(true));
    assert_eq!(x("x == '404.0'", nt(404.0, "404")), Some(false));
    // As the input wrote it, not as the number.
    assert_eq!(x("x == '404'", nt(404.0, "0404")), Some(false));
    assert_eq!(x("x == 404", nt(404.0, "0404")), Some(true));
    // A pure number is written with `{}`.
    assert_eq!(x("x == '200'", num(200.0)), Some(true));
    assert_eq!(x("x == '0.5'", num(0.5)), Some(true));
    assert_eq!(x("x == '-3'", num(-3.0)), Some(true));
    assert_eq!(x("x == '1000000000000000000000'", num(1e21)), Some(true));
    assert_eq!(x("'200' == x", num(200.0)), Some(true));
    assert_eq!(x("x != 'prod'", num(1.0)), Some(true));
}

#[test]
fn text_ordering_is_lexicographic() {
    assert_eq!(x("x == 'prod'", text("prod")), Some(true));
    assert_eq!(x("x != 'prod'", text("dev")), Some(true));
    assert_eq!(x("x < 'q'", text("prod")), Some(true));
    assert_eq!(x("x <= 'prod'", text("prod")), Some(true));
    assert_eq!(x("x > 'prod'", text("prod")), Some(false));
    assert_eq!(x("x >= 'pro'", text("prod")), Some(true));
    // Against a string literal a number is text: "10" < "9".
    assert_eq!(x("x < '9'", nt(10.0, "10")), Some(true));
    assert_eq!(t("'a' < 'b'"), Some(true));
    assert_eq!(t("'b' <= 'a'"), Some(false));
    assert!(eval_with("a < b", &[("a", text("abc")), ("b", text("abd"))]));
    assert!(eval_with("a == b", &[("a", text("x")), ("b", text("x"))]));
}

#[test]
fn nan_is_never_equal() {
    let nan = num(f64::NAN);
    assert_eq!(x("x == x", nan), Some(false));
    assert_eq!(x("x != x", nan), Some(true));
    assert_eq!(x("x < 1", nan), Some(false));
    assert_eq!(x("x >= 1", nan), Some(false));
    assert_eq!(x("x == 1", text("NaN")), Some(false));
    assert_eq!(x("x / x == 1", num(f64::INFINITY)), Some(false));
}

#[test]
fn in_lists() {
    let s = nt(404.0, "404");
    assert_eq!(x("x in [200, 404]", s), Some(true));
    assert_eq!(x("x in [200, 500]", s), Some(false));
    assert_eq!(x("x not in [200, 404]", s), Some(false));
    assert_eq!(x("x not in [200, 500]", s), Some(true));
    assert_eq!(x("x in ['404']", s), Some(true));
    assert_eq!(x("x in [1, 'x', 404,]", s), Some(true));
    assert_eq!(x("x in ['prod', 'staging']", text("prod")), Some(true));
    assert_eq!(x("x in [-1.5]", num(-1.5)), Some(true));
    assert_eq!(x("x in ['200', 1]", num(200.0)), Some(true));
    assert_eq!(x("x in ['200.0']", num(200.0)), Some(false));
    // `==` against each element, three-valued: 1 vs 'abc' is null.
    assert_eq!(x("x in [1, 'abc']", text("abc")), Some(true));
    assert_eq!(x("x in [1, 'a']", text("b")), None);
    assert_eq!(x("x in ['a', 'b']", text("c")), Some(false));
    assert_eq!(x("x in [1, 2]", None), None);
    assert_eq!(x("x not in [1, 2]", None), None);
    assert_eq!(x("x + 1 in [2, 3]", text("1")), Some(true));
}

#[test]
fn matches_regex() {
    assert_eq!(x("x matches 'err'", text("an error here")), Some(true));
    assert_eq!(x("x matches '^err'", text("an error")), Some(false));
    assert_eq!(x(r"x matches '^GET /api/\d+$'", text("GET /api/42")), Some(true));
    assert_eq!(x("x not matches 'err'", text("fine")), Some(true));
    assert_eq!(x("x not matches 'err'", text("error")), Some(false));
    // On the text as written.
    assert_eq!(x("x matches '^2'", nt(200.0, "200")), Some(true));
    assert_eq!(x("x matches '^0'", nt(7.0, "007")), Some(true));
    // A pure number is written with `{}`.
    assert_eq!(x(r"x matches '^0\.5$'", num(0.5)), Some(true));
    assert_eq!(x("x matches '^200$'", num(200.0)), Some(true));
    assert_eq!(x("x + 1 matches '^3$'", num(2.0)), Some(true));
    assert_eq!(t("'abc' matches 'b'"), Some(true));
    assert_eq!(x("x matches 'a'", None), None);
    assert_eq!(x("x not matches 'a'", None), None);
    // Extreme numbers fit the formatting buffer.
    assert_eq!(x("x matches '^179769313486231570+$'", num(f64::MAX)), Some(true));
    assert_eq!(x("x matches '^-0\\.0+5$'", num(-5e-324)), Some(true));
    assert_eq!(x("x == '-0'", num(-0.0)), Some(true));
}

// ---- arithmetic -----------------------------------------------------------

#[test]
fn arithmetic() {
    assert_eq!(t("1 + 2 * 3 == 7"), Some(true));
    assert_eq!(t("(1 + 2) * 3 == 9"), Some(true));
    assert_eq!(t("10 - 4 - 3 == 3"), Some(true));
    assert_eq!(t("12 / 2 / 3 == 2"), Some(true));
    assert_eq!(t("2 * -3 == -6"), Some(true));
    assert_eq!(t("- -5 == 5"), Some(true));
    assert_eq!(t("---5 == -5"), Some(true));
    assert_eq!(t("-(2 + 3) == -5"), Some(true));
    assert_eq!(x("-x == -5", nt(5.0, "5")), Some(true));
    assert_eq!(x("x * 2 == 6", text("3")), Some(true));
    assert_eq!(x("x * 2 == 6", text("a")), None);
    assert_eq!(x("x - 1 > 0", None), None);
    assert_eq!(x("-x < 0", None), None);
    let vars = [("sum", num(30.0)), ("count", num(4.0))];
    assert!(eval_with("sum / count == 7.5", &vars));
    assert!(eval_with("sum / count * 2 - 5 == 10", &vars));
}

#[test]
fn division_by_zero_is_null() {
    assert_eq!(t("1 / 0 > 0"), None);
    assert_eq!(t("1 / 0 == 1 / 0"), None);
    assert_eq!(t("0 / 0 == 0"), None);
    assert_eq!(x("10 / x > 1", num(0.0)), None);
    assert_eq!(x("10 / x > 1", num(-0.0)), None);
    assert_eq!(x("10 / x > 1", text(" 0 ")), None);
    assert_eq!(x("10 / x > 1", num(2.0)), Some(true));
    let vars = [("sum", None), ("count", num(0.0))];
    assert_eq!(truth("sum / count > 1", &vars), None);
}

// ---- precedence -----------------------------------------------------------

#[test]
fn precedence_shown_by_display() {
    assert_eq!(shown("a == 1 or b == 2 and c == 3"), "((a == 1) or ((b == 2) and (c == 3)))");
    assert_eq!(shown("a == 1 and b == 2 or c == 3"), "(((a == 1) and (b == 2)) or (c == 3))");
    assert_eq!(shown("not a == 1 and b == 2"), "((not (a == 1)) and (b == 2))");
    assert_eq!(shown("not not a in [1]"), "(not (not (a in [1])))");
    assert_eq!(shown("a + 1 == b * 2"), "((a + 1) == (b * 2))");
    assert_eq!(shown("a + b * c - d / e > 0"), "(((a + (b * c)) - (d / e)) > 0)");
    assert_eq!(shown("-a * b < 1"), "(((-a) * b) < 1)");
    assert_eq!(shown("a - -1 < 1"), "((a - (-1)) < 1)");
    assert_eq!(shown("(a == 1 or b == 2) and c == 3"), "(((a == 1) or (b == 2)) and (c == 3))");
    assert_eq!(shown("a == 1 or b == 2 or c == 3"), "((a == 1) or (b == 2) or (c == 3))");
    assert_eq!(shown("((a)) == ((1))"), "(a == 1)");
    assert_eq!(shown("x not in [-1.5, 'a', 1e3]"), "(x not in [-1.5, 'a', 1000])");
    assert_eq!(shown("x matches 'a' and y not matches 'b'"), "((x matches 'a') and (y not matches 'b'))");
}

#[test]
fn precedence_in_evaluation() {
    // or < and: true or (false and false) is true.
    assert!(eval_with("a == 1 or a == 2 and a == 3", &[("a", num(1.0))]));
    // not < comparison: not (a == 2).
    assert!(eval_with("not a == 2", &[("a", num(1.0))]));
    // not > and: (not false) and true.
    assert!(eval_with("not a == 2 and a == 1", &[("a", num(1.0))]));
    // comparison < additive < multiplicative < unary.
    assert!(eval_with("a + 2 * 3 == 7 and -a * 2 == -2", &[("a", num(1.0))]));
}

#[test]
fn display_escapes_strings() {
    assert_eq!(shown(r"a == 'it\'s'"), r"(a == 'it\'s')");
    assert_eq!(shown(r"a == 'back\\'"), r"(a == 'back\\')");
    assert_eq!(shown(r"a matches '^\d+\s'"), r"(a matches '^\d+\s')");
    assert_eq!(shown(r"a == 'x\\\\y'"), r"(a == 'x\\\y')");
    assert_eq!(shown("a == 1.50"), "(a == 1.5)");
    for src in [r"a == 'it\'s'", r"a == 'back\\'", r"a matches '\\d\d'", r"a == '\\\''", r"a == 'q\'\\'"] {
        let once = shown(src);
        assert_eq!(shown(&once), once, "{src}");
    }
}

// ---- null semantics -------------------------------------------------------

#[test]
fn three_valued_logic() {
    let vars = |v| [("n", None), ("x", v)];
    // x == 1 is true; x == 2 is false; n == 1 is null.
    let one = num(1.0);
    assert_eq!(truth("n == 1", &vars(one)), None);
    assert_eq!(truth("not n == 1", &vars(one)), None);
    assert_eq!(truth("n == 1 and x == 2", &vars(one)), Some(false));
    assert_eq!(truth("x == 2 and n == 1", &vars(one)), Some(false));
    assert_eq!(truth("n == 1 and x == 1", &vars(one)), None);
    assert_eq!(truth("n == 1 or x == 1", &vars(one)), Some(true));
    assert_eq!(truth("x == 1 or n == 1", &vars(one)), Some(true));
    assert_eq!(truth("n == 1 or x == 2", &vars(one)), None);
    assert_eq!(truth("n == 1 or n == 2", &vars(one)), None);
    assert_eq!(truth("not (n == 1 or x == 2)", &vars(one)), None);
    assert_eq!(truth("n != 1", &vars(one)), None);
    assert_eq!(truth("n + 1 > 0 or x == 1", &vars(one)), Some(true));
    // An alert on an empty window: `count = 0`, sum null.
    let window = [("count", num(0.0)), ("sum", None)];
    assert!(!eval_with("sum > 5", &window));
    assert!(!eval_with("not (sum > 5)", &window));
    assert!(eval_with("count == 0 or sum > 5", &window));
    assert!(!eval_with("count == 0 and sum > 5", &window));
}

#[test]
fn missing_and_out_of_range_slots() {
    let e = parse("a == 1 or b == 2").unwrap().bind(|n| Some(if n == "a" { 0 } else { 7 })).unwrap();
    assert!(e.eval_values(&[num(1.0)]));
    assert!(!e.eval_values(&[num(2.0)]));
    assert!(!e.eval_values(&[]));
}

// ---- bind -----------------------------------------------------------------

#[test]
fn bind_resolves_each_name_once_in_order() {
    let e = parse("b == 1 and a == 2 and b < 3").unwrap();
    let mut asked = Vec::new();
    let bound = e
        .bind(|n| {
            asked.push(n.to_string());
            Some(asked.len() - 1)
        })
        .unwrap();
    assert_eq!(asked, ["b", "a"]);
    assert!(bound.eval_values(&[num(1.0), num(2.0)]));
    assert!(!bound.eval_values(&[num(2.0), num(1.0)]));
}

#[test]
fn bind_errors() {
    let e = parse("a == 1 and nope > 2 and nope < 3").unwrap();
    let err = e.bind(|n| (n == "a").then_some(0)).unwrap_err();
    assert_eq!(err, ExprError { offset: 11, message: "unknown field 'nope'".into() });
    let err =
        e.resolve_with(|n| if n == "a" { Ok(0) } else { Err(format!("no field '{n}' in stream 'sshd'")) }).unwrap_err();
    assert_eq!(err, ExprError { offset: 11, message: "no field 'nope' in stream 'sshd'".into() });
    assert_eq!(err.to_string(), "no field 'nope' in stream 'sshd'");
    let err = parse("a == 1").unwrap().bind(|_| Some(usize::MAX)).unwrap_err();
    assert_eq!(err.offset, 0);
}

struct Fields<'a> {
    status: Option<&'a str>,
    host: &'a str,
}

impl Slots for Fields<'_> {
    fn get(&self, slot: usize) -> Option<Value<'_>> {
        match slot {
            0 => {
                let s = self.status?;
                Some(Value::NumberText(s.parse().ok()?, s))
            }
            1 => Some(Value::Text(self.host)),
            _ => None,
        }
    }
}

#[test]
fn custom_slots_and_sharing() {
    let e = parse("status >= 500 and host matches '^web-'").unwrap();
    let bound = e.bind(|n| match n {
        "status" => Some(0),
        "host" => Some(1),
        _ => None,
    });
    let bound = bound.unwrap();
    assert!(bound.eval(&Fields { status: Some("503"), host: "web-1" }));
    assert!(!bound.eval(&Fields { status: Some("200"), host: "web-1" }));
    assert!(!bound.eval(&Fields { status: None, host: "web-1" }));
    assert!(!bound.eval(&Fields { status: Some("503"), host: "db-1" }));
    // Other Slots impls: Vec, array, slice, reference.
    let v = vec![nt(503.0, "503"), text("web-2")];
    assert!(bound.eval(&v));
    assert!(bound.eval(&&v));
    assert!(bound.eval(&[nt(503.0, "503"), text("web-2")]));
    assert!(bound.eval(&v[..]));

    fn shareable<T: Send + Sync + Clone + std::fmt::Debug + 'static>(_: &T) {}
    shareable(&bound);
    let clone = bound.clone();
    let handle = std::thread::spawn(move || clone.eval_values(&[nt(503.0, "503"), text("web-3")]));
    assert!(handle.join().unwrap());
}

#[test]
fn constant_folding_keeps_semantics() {
    assert_eq!(x("x > -1.5", num(-1.0)), Some(true));
    assert_eq!(x("x > -(1 + 0.5)", num(-1.0)), Some(true));
    assert_eq!(x("x == 2 * 3 - 1", num(5.0)), Some(true));
    assert_eq!(x("x == 1 / 0", num(5.0)), None);
    assert_eq!(x("-1.5 < x", num(-1.0)), Some(true));
    assert_eq!(x("x == 1 + 1 + 1 + 1", nt(4.0, "4")), Some(true));
}

// ---- errors ---------------------------------------------------------------

#[test]
fn errors_lexical() {
    fails("", 0, "empty expression: expected a condition such as 'status >= 500'");
    fails("   ", 3, "empty expression: expected a condition such as 'status >= 500'");
    fails("status = 5", 7, "unknown operator '=' (did you mean '==')");
    fails("a ! b", 2, "unknown operator '!' (did you mean '!=' or 'not')");
    fails("a == 1 && b == 2", 7, "unknown operator '&&' (did you mean 'and')");
    fails("a == 1 & b == 2", 7, "unknown operator '&' (did you mean 'and')");
    fails("a == 1 || b == 2", 7, "unknown operator '||' (did you mean 'or')");
    fails("a == 1 | b == 2", 7, "unknown operator '|' (did you mean 'or')");
    fails("a =~ 'x'", 2, "unknown operator '=~' (did you mean 'matches')");
    fails("a !~ 'x'", 2, "unknown operator '!~' (did you mean 'not matches')");
    fails("a <> 1", 2, "unknown operator '<>' (did you mean '!=')");
    fails("a == 'x", 5, "unterminated string: missing closing quote (')");
    fails(r"a == 'x\'", 5, "unterminated string: missing closing quote (')");
    fails(r"a == 'x\", 5, "unterminated string: missing closing quote (')");
    fails("a == \"x\"", 5, "strings are written in single quotes, e.g. 'prod'");
    fails("a == 500ms", 5, "invalid number '500ms'");
    fails("a == 1.2.3", 5, "invalid number '1.2.3'");
    fails("a == 1.", 5, "invalid number '1.'");
    fails("a == 1.e5", 5, "invalid number '1.e5'");
    fails("a == 1e", 5, "invalid number '1e'");
    fails("a == 1e+ 3", 5, "invalid number '1e'");
    fails("a == 1e999", 5, "number '1e999' is out of range");
    fails("a == .5", 5, "a number must start with a digit (write 0.5, not .5)");
    fails("req. == 1", 3, "expected a field name after 'req.'");
    fails("req.a. == 1", 5, "expected a field name after 'req.a.'");
    fails("a == #", 5, "unexpected character '#'");
    fails("é == 1", 0, "unexpected character 'é'");
    fails("a == 1 %", 7, "unexpected character '%'");
    fails("a == \u{7}", 5, "unexpected character '\\u{7}'");
}

#[test]
fn errors_syntax() {
    fails("status >=", 9, "expected a value after '>=', found end of input");
    fails("status >= )", 10, "expected a value after '>=', found ')'");
    fails("status >= and", 10, "expected a value after '>=', found 'and'");
    fails("a == 1 or", 9, "expected a condition after 'or', found end of input");
    fails("a == 1 and )", 11, "expected a condition after 'and', found ')'");
    fails("not", 3, "expected a condition after 'not', found end of input");
    fails("== 1", 0, "expected a condition, found '=='");
    fails("a + * 2 == 1", 4, "expected a value after '+', found '*'");
    fails("(a == 1", 0, "unclosed '('");
    fails("((a == 1)", 0, "unclosed '('");
    fails("(a == (1 + 2", 6, "unclosed '('");
    fails("a == 1)", 6, "unmatched ')'");
    fails("(a == 1 b", 8, "expected 'and', 'or' or ')', found 'b'");
    fails("(a b) == 1", 3, "expected an operator or ')', found 'b'");
    fails("a == 1 b", 7, "expected 'and', 'or' or end of input, found 'b'");
    fails("a == 1 'x'", 7, "expected 'and', 'or' or end of input, found 'x'");
    fails("a b", 2, "expected an operator after 'a', found 'b'");
    fails("a == 1 AND b == 2", 7, "expected 'and', 'or' or end of input, found 'AND' (keywords are lowercase: 'and')");
    fails("a == 1 Or b == 2", 7, "expected 'and', 'or' or end of input, found 'Or' (keywords are lowercase: 'or')");
    fails("a < b < c", 6, "comparisons cannot be chained; join them with 'and' (e.g. 'a < b and b < c')");
    fails("a == b in [1]", 7, "comparisons cannot be chained; join them with 'and' (e.g. 'a < b and b < c')");
    fails("a in [1] == b", 9, "comparisons cannot be chained; join them with 'and' (e.g. 'a < b and b < c')");
    fails(
        "a matches 'x' matches 'y'",
        14,
        "comparisons cannot be chained; join them with 'and' (e.g. 'a < b and b < c')",
    );
    fails("a not 5", 6, "expected 'in' or 'matches' after 'not', found '5'");
    fails("a not", 5, "expected 'in' or 'matches' after 'not', found end of input");
    fails("count(x) > 1", 0, "unknown function 'count' (expressions have no functions)");
    fails("a == [1]", 5, "a list is only allowed after 'in' or 'not in'");
}

#[test]
fn errors_lists() {
    fails("a in 5", 5, "expected a list such as [200, 'x'] after 'in', found '5'");
    fails("a in", 4, "expected a list such as [200, 'x'] after 'in', found end of input");
    fails("a not in 'x'", 9, "expected a list such as [200, 'x'] after 'in', found 'x'");
    fails("a in [b]", 6, "list elements must be numbers or strings, found 'b'");
    fails("a in [[1]]", 6, "list elements must be numbers or strings, found '['");
    fails("a in [,]", 6, "list elements must be numbers or strings, found ','");
    fails("a in [1, 2", 5, "unclosed '['");
    fails("a in [1,", 5, "unclosed '['");
    fails("a in [-", 5, "unclosed '['");
    fails("a in []", 5, "empty list: give at least one value");
    fails("a in [1 2]", 8, "expected ',' or ']' in the list, found '2'");
    fails("a in [-'x']", 7, "expected a number after '-', found 'x'");
    fails("a in [1 + 2]", 8, "expected ',' or ']' in the list, found '+'");
}

#[test]
fn errors_types() {
    let cond = "the expression must be a condition such as 'status >= 500', found";
    fails("status", 0, &format!("{cond} a value"));
    fails("1 + 2", 0, &format!("{cond} a value"));
    fails("'x'", 0, &format!("{cond} a string"));
    fails("(status)", 0, &format!("{cond} a value"));
    fails("not a", 4, "'not' needs a condition, found a value");
    fails("not (1 + 2)", 4, "'not' needs a condition, found a value");
    fails("a and b == 1", 0, "'and' needs a condition on each side, found a value");
    fails("a == 1 or 2", 10, "'or' needs a condition on each side, found a value");
    fails("a == 1 and 'x'", 11, "'and' needs a condition on each side, found a string");
    fails("(a == 1) == 2", 0, "'==' needs a value on its left, found a condition");
    fails("a == (b == 1)", 5, "'==' needs a value on its right, found a condition");
    fails("(a == 1) in [1]", 0, "'in' needs a value on its left, found a condition");
    fails("(a == 1) not in [1]", 0, "'not in' needs a value on its left, found a condition");
    fails("(a == 1) matches 'x'", 0, "'matches' needs a value on its left, found a condition");
    fails("'a' + 1 == 2", 0, "'+' needs a number on its left, found a string");
    fails("1 * 'a' == 2", 4, "'*' needs a number on its right, found a string");
    fails("(a > 1) - 1 == 2", 0, "'-' needs a number on its left, found a condition");
    fails("-'a' == 1", 1, "'-' needs a number, found a string");
    fails("-(a == 1)", 1, "'-' needs a number, found a condition");
}

#[test]
fn errors_regex() {
    fails("a matches 5", 10, "expected a string literal (the regex) after 'matches', found '5'");
    fails("a not matches b", 14, "expected a string literal (the regex) after 'not matches', found 'b'");
    fails("a matches '('", 10, "invalid regex: unclosed group");
    fails_with_prefix("a == 1 and b matches '[z-a]'", 21, "invalid regex: invalid character class range");
    // Over the NFA size limit.
    fails(r"a matches '\w{1000}{1000}'", 10, "invalid regex: too big (it compiles to more than the limit of 10 MiB)");
    // Over the syntax nesting limit.
    let deep = format!("a matches '{}a{}'", "(".repeat(150), ")".repeat(150));
    fails_with_prefix(&deep, 10, "invalid regex: exceed the maximum number of nested");
    let ok = format!("a matches '{}a{}'", "(".repeat(50), ")".repeat(50));
    assert!(parse(&ok).is_ok());
}

#[test]
fn long_tokens_are_clipped_in_messages() {
    let long = "x".repeat(100);
    let e = parse(&format!("a == 1 {long}")).unwrap_err();
    assert_eq!(e.message, format!("expected 'and', 'or' or end of input, found '{}...'", "x".repeat(40)));
}

// ---- depth ----------------------------------------------------------------

#[test]
fn depth_limit_parentheses() {
    let ok = format!("{}a == 1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(parse(&ok).is_ok());
    let deep = format!("{}a == 1{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
    fails(&deep, MAX_DEPTH, "expression nested too deeply (more than 64 levels)");
    let hostile = "(".repeat(1_000_000);
    fails(&hostile, MAX_DEPTH, "expression nested too deeply (more than 64 levels)");
}

#[test]
fn depth_limit_tree_height() {
    // `a == 1` is 2 high; each `not` adds one.
    let ok = format!("{}a == 1", "not ".repeat(MAX_DEPTH - 2));
    assert!(parse(&ok).is_ok());
    let deep = format!("{}a == 1", "not ".repeat(MAX_DEPTH - 1));
    fails(&deep, 0, "expression nested too deeply (more than 64 levels)");
    let hostile = format!("{}a == 1", "not ".repeat(1_000_000));
    assert!(parse(&hostile).is_err());
    let minus = format!("{}a == 1", "-".repeat(1_000_000));
    assert!(parse(&minus).is_err());
    // A left-leaning arithmetic chain is as high as it is long.
    let sum = format!("a{} == 1", " + a".repeat(200));
    let e = parse(&sum).unwrap_err();
    assert_eq!(e.message, "expression nested too deeply (more than 64 levels)");
    assert_eq!(&sum[e.offset..e.offset + 1], "+");
    // `and`/`or` chains are flat, so long ones are fine.
    let chain = vec!["a == 1"; 10_000].join(" or ");
    let bound = parse(&chain).unwrap().bind(|_| Some(0)).unwrap();
    assert!(bound.eval_values(&[num(1.0)]));
    assert!(!bound.eval_values(&[num(2.0)]));
    let list = format!("a in [{}]", vec!["1"; 100_000].join(", "));
    assert!(parse(&list).is_ok());
}

#[test]
fn deep_display_round_trips() {
    // The deepest trees still print within the parenthesis limit.
    for src in [
        format!("{}a == 1", "not ".repeat(MAX_DEPTH - 2)),
        format!("{}a == 1", "-".repeat(MAX_DEPTH - 2)),
        format!("a{} == 1", " - a".repeat(MAX_DEPTH - 2)),
        format!("{}a == 1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH)),
    ] {
        fuzz_parse(&src);
        assert!(parse(&src).is_ok(), "{src}");
    }
}

#[test]
fn fuzz_parse_samples() {
    for src in [
        "",
        "a",
        "a == 1",
        "req.status in [200, '404'] and not (x matches '^a' or y / 0 > 1)",
        "x == '200' or x == 200 or x < 'z'",
        "a ==",
        "((((",
        "'\\",
        "x not in [-0, 1e300]",
    ] {
        fuzz_parse(src);
    }
}

// ---- properties -----------------------------------------------------------

/// Source text of a value, or of a condition, built at random.
fn value_src() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        prop::sample::select(vec!["a", "b", "req.status", "_c1"]).prop_map(str::to_string),
        (0u32..1000).prop_map(|n| n.to_string()),
        (0.0f64..1e6).prop_map(|n| format!("{n}")),
        Just("1e3".to_string()),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), prop::sample::select(vec!["+", "-", "*", "/"]), inner.clone(), any::<bool>())
                .prop_map(|(l, op, r, paren)| if paren { format!("({l} {op} {r})") } else { format!("{l} {op} {r}") }),
            inner.clone().prop_map(|v| format!("-{v}")),
            inner.prop_map(|v| format!("({v})")),
        ]
    })
}

fn str_lit() -> impl Strategy<Value = String> {
    "[a-z0-9'\\\\ .]{0,6}".prop_map(|s| {
        let mut out = String::from("'");
        for c in s.chars() {
            match c {
                '\'' => out.push_str("\\'"),
                '\\' => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        out.push('\'');
        out
    })
}

fn cond_src() -> impl Strategy<Value = String> {
    let operand = prop_oneof![3 => value_src(), 1 => str_lit()];
    let cmp = (operand.clone(), prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">="]), operand.clone())
        .prop_map(|(l, op, r)| format!("{l} {op} {r}"));
    let item = prop_oneof![(-1000i32..1000).prop_map(|n| n.to_string()), str_lit()];
    let list = (operand.clone(), prop::collection::vec(item, 1..4), any::<bool>())
        .prop_map(|(v, items, neg)| format!("{v} {}in [{}]", if neg { "not " } else { "" }, items.join(", ")));
    let re = (operand, prop::sample::select(vec!["'^1'", "'0$'", r"'\d'", "'a|b'", "'.'"]), any::<bool>())
        .prop_map(|(v, re, neg)| format!("{v} {}matches {re}", if neg { "not " } else { "" }));
    let leaf = prop_oneof![3 => cmp, 1 => list, 1 => re];
    leaf.prop_recursive(4, 32, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v.join(" and ")),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v.join(" or ")),
            inner.clone().prop_map(|c| format!("not {c}")),
            inner.prop_map(|c| format!("({c})")),
        ]
    })
}

#[derive(Debug, Clone)]
enum OwnedValue {
    Missing,
    Number(f64),
    NumberText(f64, String),
    Text(String),
}

impl OwnedValue {
    fn as_value(&self) -> Option<Value<'_>> {
        match self {
            OwnedValue::Missing => None,
            OwnedValue::Number(n) => Some(Value::Number(*n)),
            OwnedValue::NumberText(n, t) => Some(Value::NumberText(*n, t)),
            OwnedValue::Text(t) => Some(Value::Text(t)),
        }
    }
}

fn owned_value() -> impl Strategy<Value = OwnedValue> {
    prop_oneof![
        Just(OwnedValue::Missing),
        prop_oneof![(-5i32..1005).prop_map(f64::from), any::<f64>()].prop_map(OwnedValue::Number),
        (0u32..1000).prop_map(|n| OwnedValue::NumberText(f64::from(n), n.to_string())),
        prop::sample::select(vec!["", "abc", " 12 ", "0", "200", "1e3", "a"])
            .prop_map(|s| OwnedValue::Text(s.to_string())),
    ]
}

/// A token soup: mostly nonsense, sometimes an expression.
fn soup() -> impl Strategy<Value = String> {
    let tok = prop::sample::select(vec![
        "a", "b.c", "1", "-", "2.5", "'x'", "'\\''", "==", "!=", "<", "<=", ">", ">=", "=", "!", "in", "not",
        "matches", "and", "or", "(", ")", "[", "]", ",", "+", "*", "/", "'^a'", "'('", "\"", "AND", "1e999", "é",
    ]);
    prop::collection::vec(tok, 0..16).prop_map(|v| v.join(" "))
}

proptest! {
    #[test]
    fn parse_never_panics(src in any::<String>()) {
        fuzz_parse(&src);
    }

    #[test]
    fn parse_never_panics_on_ascii(src in "[ -~]{0,40}") {
        fuzz_parse(&src);
    }

    #[test]
    fn token_soup_round_trips(src in soup()) {
        fuzz_parse(&src);
        if let Ok(e) = parse(&src) {
            let once = e.to_string();
            prop_assert_eq!(parse(&once).unwrap().to_string(), once);
        }
    }

    #[test]
    fn error_offsets_are_in_bounds(src in any::<String>()) {
        if let Err(e) = parse(&src) {
            prop_assert!(e.offset <= src.len());
            prop_assert!(src.is_char_boundary(e.offset));
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn generated_expressions_round_trip(src in cond_src(), vals in prop::collection::vec(owned_value(), 4)) {
        let e = parse(&src).map_err(|e| TestCaseError::fail(format!("{src:?}: {e} at {}", e.offset)))?;
        let once = e.to_string();
        let again = parse(&once).map_err(|e| TestCaseError::fail(format!("{once:?}: {e}")))?;
        prop_assert_eq!(again.to_string(), once.clone());
        let names = ["a", "b", "req.status", "_c1"];
        let slot = |n: &str| names.iter().position(|m| *m == n);
        let values: Vec<Option<Value<'_>>> = vals.iter().map(OwnedValue::as_value).collect();
        let b1 = e.bind(slot).unwrap();
        let b2 = again.bind(slot).unwrap();
        prop_assert_eq!(b1.eval_values(&values), b2.eval_values(&values), "{} vs {}", src, once);
        // `not` of a condition is its negation, except that null stays null.
        let neg = parse(&format!("not ({src})")).unwrap().bind(slot).unwrap();
        prop_assert!(!(b1.eval_values(&values) && neg.eval_values(&values)));
    }

    #[test]
    fn numeric_comparisons_match_f64(a in any::<f64>(), b in any::<f64>()) {
        let vals = [Some(Value::Number(a)), Some(Value::Number(b))];
        let check = |src: &str| parse(src).unwrap().bind(|n| Some(usize::from(n == "b"))).unwrap().eval_values(&vals);
        prop_assert_eq!(check("a == b"), a == b);
        prop_assert_eq!(check("a != b"), a != b);
        prop_assert_eq!(check("a < b"), a < b);
        prop_assert_eq!(check("a <= b"), a <= b);
        prop_assert_eq!(check("a > b"), a > b);
        prop_assert_eq!(check("a >= b"), a >= b);
        prop_assert_eq!(check("a + b == a + b"), !(a + b).is_nan());
        prop_assert_eq!(check("a / b == a / b"), b != 0.0 && !(a / b).is_nan());
    }

    #[test]
    fn number_literals_compare_like_f64(a in -1e6f64..1e6, b in -1e6f64..1e6) {
        let vals = [Some(Value::Number(a))];
        let src = format!("a < {b}");
        let e = parse(&src).unwrap().bind(|_| Some(0)).unwrap();
        prop_assert_eq!(e.eval_values(&vals), a < b);
        let src = format!("{b} < a");
        let e = parse(&src).unwrap().bind(|_| Some(0)).unwrap();
        prop_assert_eq!(e.eval_values(&vals), b < a);
    }

    #[test]
    fn kleene_logic(tree in logic_tree(), vals in prop::collection::vec(prop::option::of(any::<bool>()), 3)) {
        let src = tree.src();
        let values: Vec<Option<Value<'_>>> =
            vals.iter().map(|v| v.map(|b| Value::Number(if b { 1.0 } else { 0.0 }))).collect();
        let bind = |s: &str| parse(s).unwrap().bind(|n| n[1..].parse().ok()).unwrap();
        let want = tree.eval(&vals);
        prop_assert_eq!(bind(&src).eval_values(&values), want == Some(true), "{}", src);
        prop_assert_eq!(bind(&format!("not ({src})")).eval_values(&values), want == Some(false), "{}", src);
    }
}

/// A boolean tree over atoms `vN == 1`, with a reference Kleene evaluator.
#[derive(Debug, Clone)]
enum Logic {
    Atom(usize),
    Not(Box<Logic>),
    And(Vec<Logic>),
    Or(Vec<Logic>),
}

impl Logic {
    fn src(&self) -> String {
        match self {
            Logic::Atom(i) => format!("v{i} == 1"),
            Logic::Not(x) => format!("not ({})", x.src()),
            Logic::And(v) => v.iter().map(|x| format!("({})", x.src())).collect::<Vec<_>>().join(" and "),
            Logic::Or(v) => v.iter().map(|x| format!("({})", x.src())).collect::<Vec<_>>().join(" or "),
        }
    }

    /// Kleene's logic as an order false < null < true: `and` is the minimum, `or` the maximum.
    fn eval(&self, vals: &[Option<bool>]) -> Option<bool> {
        let rank = |b: Option<bool>| match b {
            Some(false) => 0,
            None => 1,
            Some(true) => 2,
        };
        let unrank = |r: u8| [Some(false), None, Some(true)][usize::from(r)];
        match self {
            Logic::Atom(i) => vals[*i],
            Logic::Not(x) => x.eval(vals).map(|b| !b),
            Logic::And(v) => unrank(v.iter().map(|x| rank(x.eval(vals))).min().unwrap_or(2)),
            Logic::Or(v) => unrank(v.iter().map(|x| rank(x.eval(vals))).max().unwrap_or(0)),
        }
    }
}

fn logic_tree() -> impl Strategy<Value = Logic> {
    (0usize..3).prop_map(Logic::Atom).prop_recursive(5, 40, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|x| Logic::Not(Box::new(x))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Logic::And),
            prop::collection::vec(inner, 2..4).prop_map(Logic::Or),
        ]
    })
}

/// One side of a comparison, for the model below.
#[derive(Debug, Clone)]
enum Side {
    /// Slot `a` or `b`.
    Field(usize),
    /// `(a + 0)` or `(b * 1)`: a computed number from a field.
    Arith(usize),
    NumLit(f64),
    StrLit(&'static str),
}

impl Side {
    fn src(&self) -> String {
        match self {
            Side::Field(0) => "a".into(),
            Side::Field(_) => "b".into(),
            Side::Arith(0) => "(a + 0)".into(),
            Side::Arith(_) => "(b * 1)".into(),
            Side::NumLit(n) => format!("{n}"),
            Side::StrLit(s) => format!("'{s}'"),
        }
    }
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![
        (0usize..2).prop_map(Side::Field),
        (0usize..2).prop_map(Side::Arith),
        prop_oneof![(-3i32..1003).prop_map(f64::from), Just(0.5), Just(-2.5), Just(1e3)].prop_map(Side::NumLit),
        prop::sample::select(vec!["200", "abc", " 12 ", "", "1e3", "0", "0.5", "-3"]).prop_map(Side::StrLit),
    ]
}

/// The comparison rules of the module docs, written out independently of the evaluator.
fn model_cmp(op: &str, l: &Side, r: &Side, vals: &[OwnedValue]) -> Option<bool> {
    enum M<'a> {
        Num(f64),
        FieldNum(f64, Option<&'a str>),
        Text(&'a str),
        Str(&'a str),
    }
    let parse = |t: &str| t.trim().parse::<f64>().ok();
    let resolve = |s: &Side| -> Option<M<'_>> {
        Some(match s {
            Side::Field(i) => match &vals[*i] {
                OwnedValue::Missing => return None,
                OwnedValue::Number(x) => M::FieldNum(*x, None),
                OwnedValue::NumberText(x, t) => M::FieldNum(*x, Some(t)),
                OwnedValue::Text(t) => M::Text(t),
            },
            Side::Arith(i) => M::Num(match &vals[*i] {
                OwnedValue::Missing => return None,
                OwnedValue::Number(x) | OwnedValue::NumberText(x, _) => *x,
                OwnedValue::Text(t) => parse(t)?,
            }),
            Side::NumLit(n) => M::Num(*n),
            Side::StrLit(s) => M::Str(s),
        })
    };
    let (a, b) = (resolve(l)?, resolve(r)?);
    let num = |x: f64, y: f64| match op {
        "==" => x == y,
        "!=" => x != y,
        "<" => x < y,
        "<=" => x <= y,
        ">" => x > y,
        _ => x >= y,
    };
    let text = |x: &str, y: &str| match op {
        "==" => x == y,
        "!=" => x != y,
        "<" => x < y,
        "<=" => x <= y,
        ">" => x > y,
        _ => x >= y,
    };
    let written = |x: f64, t: Option<&str>| t.map_or_else(|| format!("{x}"), str::to_string);
    Some(match (a, b) {
        (M::Num(x) | M::FieldNum(x, _), M::Num(y) | M::FieldNum(y, _)) => num(x, y),
        (M::Num(x) | M::FieldNum(x, _), M::Text(t)) => num(x, parse(t)?),
        (M::Text(t), M::Num(y) | M::FieldNum(y, _)) => num(parse(t)?, y),
        (M::Num(x), M::Str(s)) => num(x, parse(s)?),
        (M::Str(s), M::Num(y)) => num(parse(s)?, y),
        (M::FieldNum(x, t), M::Str(s)) => text(&written(x, t), s),
        (M::Str(s), M::FieldNum(y, t)) => text(s, &written(y, t)),
        (M::Text(t) | M::Str(t), M::Text(u) | M::Str(u)) => text(t, u),
    })
}

proptest! {
    #[test]
    fn comparisons_follow_the_documented_rules(
        l in side(),
        op in prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">="]),
        r in side(),
        vals in prop::collection::vec(owned_value(), 2),
    ) {
        let src = format!("{} {op} {}", l.src(), r.src());
        let values: Vec<Option<Value<'_>>> = vals.iter().map(OwnedValue::as_value).collect();
        let got = truth(&src, &[("a", values[0]), ("b", values[1])]);
        prop_assert_eq!(got, model_cmp(op, &l, &r, &vals), "{} with {:?}", src, vals);
    }

    #[test]
    fn in_is_any_equal(l in side(), items in prop::collection::vec(side(), 1..4), vals in prop::collection::vec(owned_value(), 2)) {
        // List items must be literals.
        let items: Vec<Side> = items.into_iter().filter(|s| matches!(s, Side::NumLit(_) | Side::StrLit(_))).collect();
        prop_assume!(!items.is_empty());
        let list: Vec<String> = items.iter().map(Side::src).collect();
        let src = format!("{} in [{}]", l.src(), list.join(", "));
        let values: Vec<Option<Value<'_>>> = vals.iter().map(OwnedValue::as_value).collect();
        let got = truth(&src, &[("a", values[0]), ("b", values[1])]);
        // Null on the left is null whatever the list; otherwise Kleene `or` of the `==`s.
        let left_null = match &l {
            Side::Field(i) => matches!(vals[*i], OwnedValue::Missing),
            Side::Arith(i) => match &vals[*i] {
                OwnedValue::Missing => true,
                OwnedValue::Text(t) => t.trim().parse::<f64>().is_err(),
                _ => false,
            },
            _ => false,
        };
        let each: Vec<Option<bool>> = items.iter().map(|it| model_cmp("==", &l, it, &vals)).collect();
        let want = if left_null {
            None
        } else if each.contains(&Some(true)) {
            Some(true)
        } else if each.contains(&None) {
            None
        } else {
            Some(false)
        };
        prop_assert_eq!(got, want, "{} with {:?}", src, vals);
    }

    #[test]
    fn matches_runs_on_the_text(v in owned_value(), re in prop::sample::select(vec!["^2", "0$", r"^\d+$", "^-", r"\.", "b", "^$"])) {
        let src = format!("x matches '{re}'");
        let want = match &v {
            OwnedValue::Missing => None,
            OwnedValue::Number(x) => Some(regex::Regex::new(re).unwrap().is_match(&format!("{x}"))),
            OwnedValue::NumberText(_, t) | OwnedValue::Text(t) => Some(regex::Regex::new(re).unwrap().is_match(t)),
        };
        prop_assert_eq!(x(&src, v.as_value()), want);
    }
}
