//! The expression language of rule `filter`s and alert `when`s.
//!
//! ```text
//! expr     := or                                   -- must be a condition
//! or       := and ('or' and)*
//! and      := not ('and' not)*
//! not      := 'not'* cmp
//! cmp      := add ( ('==' | '!=' | '<' | '<=' | '>' | '>=') add
//!                 | 'not'? 'in' list
//!                 | 'not'? 'matches' STRING )?     -- comparisons do not chain
//! add      := mul (('+' | '-') mul)*
//! mul      := unary (('*' | '/') unary)*
//! unary    := '-'* primary
//! primary  := NUMBER | STRING | IDENT | '(' expr ')'
//! list     := '[' item (',' item)* ','? ']'
//! item     := '-'? NUMBER | STRING
//!
//! NUMBER   := [0-9]+ ('.' [0-9]+)? ([eE] [+-]? [0-9]+)?
//! STRING   := "'" ... "'"  with \' and \\ as escapes; any other backslash is kept
//!             as written, so a regex reads 'GET /api/\d+'
//! IDENT    := [A-Za-z_][A-Za-z0-9_]* ('.' [A-Za-z0-9_]+)*  (a dotted path is a JSON field)
//! ```
//!
//! Keywords (`and`, `or`, `not`, `in`, `matches`) are lowercase and reserved.
//!
//! Every node is either a *condition* (comparison, `in`, `matches`, `not`,
//! `and`, `or`) or a *value* (number, string, identifier, arithmetic), and the
//! parser checks each operand's kind: `status` alone, `1 + 2`, `not status`
//! and `'a' + 1` are errors. A `matches` regex is compiled once, at parse
//! time, under explicit size limits.
//!
//! # Comparisons
//!
//! A [`Value`] from a slot is a `Number`, a `Text`, or a `NumberText` (a number
//! that remembers how the input wrote it). The other side decides:
//! - number vs number (a literal, an arithmetic result, or a numeric field):
//!   numeric, IEEE (NaN equals nothing);
//! - a number vs a `Text` field or a string literal: the text, trimmed, is
//!   read as a number; a text that is not a number makes the comparison null;
//! - a string literal vs a field: the field's text (`NumberText` as written,
//!   a pure `Number` with Rust's `{}`), so `status == '200'` holds;
//! - text vs text: byte-wise, lexicographic for `<`, `<=`, `>`, `>=`.
//!
//! `x in [a, b]` is `x == a or x == b`; `matches` runs the regex, unanchored,
//! on the value's text. Arithmetic reads texts as numbers like a comparison
//! does; division by zero is null.
//!
//! # Null
//!
//! A missing slot is null, as in SQL: a comparison or arithmetic with null is
//! null, `not null` is null, `null and false` is false, `null or true` is
//! true, and an expression holds only when it is true, so `not (sum > 5)`
//! does not hold when `sum` is missing.
//!
//! # Limits
//!
//! The tree is at most [`MAX_DEPTH`] levels high and parentheses nest at most
//! as deep (`a or b or c` is one level), so no hostile input can overflow the
//! stack in parsing, evaluation, `Display` or drop.
//!
//! # Where things are
//!
//! Source text goes `lex` (tokens) -> `parse` (the typed tree, [`Expr`], and
//! [`MAX_DEPTH`]) -> `eval` (names bound to slots, [`BoundExpr`], and its
//! evaluation); `error` holds [`ExprError`] and `value` the [`Value`]s and
//! [`Slots`] an expression reads. Imports go one way: `error` and `value` import
//! nothing of this module, and each of `lex`, `parse`, `eval` only those two and
//! the files before it.

mod error;
mod eval;
mod lex;
mod parse;
mod value;

#[cfg(test)]
mod tests;

pub use error::ExprError;
pub use eval::BoundExpr;
pub use parse::{Expr, MAX_DEPTH, parse};
pub use value::{Slots, Value};

/// For a fuzz target: parse; on success check that `Display` re-parses to
/// the same text, bind every identifier to slot 0 and evaluate against a
/// fixed set of slot values. Panics only on a bug.
pub fn fuzz_parse(src: &str) {
    let Ok(expr) = parse(src) else { return };
    let shown = expr.to_string();
    match parse(&shown) {
        Ok(again) => assert_eq!(again.to_string(), shown, "Display of {src:?} does not round-trip"),
        Err(e) => panic!("Display of {src:?} is {shown:?}, which does not parse: {e}"),
    }
    let bound = expr.bind(|_| Some(0)).expect("every name resolves");
    let values = [
        None,
        Some(Value::Number(0.0)),
        Some(Value::Number(-1.5)),
        Some(Value::Number(f64::NAN)),
        Some(Value::NumberText(200.0, "200")),
        Some(Value::Text("")),
        Some(Value::Text(" 42 ")),
        Some(Value::Text("prod")),
    ];
    for v in values {
        bound.eval_values(&[v]);
    }
}
