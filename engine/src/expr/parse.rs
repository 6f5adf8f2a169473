//! Recursive-descent parser: source text to a typed tree ([`Expr`]).
//!
//! Types are checked while parsing (a node is either a condition or a
//! value), so every error can point at the operand that is wrong.

use std::collections::HashMap;
use std::fmt;

use regex_automata::meta::Regex;

use super::error::ExprError;
use super::lex::{KEYWORDS, Lexer, Tok, Token, err, quote};

/// Deepest nesting of the expression tree, and of parentheses.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// The operator with its operands swapped: `a < b` is `b > a`.
    pub fn flip(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            other => other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl ArithOp {
    pub fn as_str(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
        }
    }
}

/// An element of an `in` list.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Lit {
    Num(f64),
    Str(String),
}

#[derive(Debug, Clone)]
pub(super) enum Kind {
    // Values.
    /// Non-negative: a leading `-` is [`Kind::Neg`], so `Display` re-parses to the same tree.
    Num(f64),
    Str(String),
    /// Index into [`Expr::idents`].
    Ident(usize),
    Neg(Box<Node>),
    Arith(ArithOp, Box<Node>, Box<Node>),
    // Conditions.
    Cmp(CmpOp, Box<Node>, Box<Node>),
    In {
        value: Box<Node>,
        list: Vec<Lit>,
        negated: bool,
    },
    Matches {
        value: Box<Node>,
        pattern: String,
        regex: Regex,
        negated: bool,
    },
    Not(Box<Node>),
    /// Flattened chains: `a or b or c` is one node, so long chains do not count against the depth limit.
    And(Vec<Node>),
    Or(Vec<Node>),
}

#[derive(Debug, Clone)]
pub(super) struct Node {
    pub kind: Kind,
    /// Byte offset of the node's first token; where type errors about it point.
    pub start: usize,
    /// 1 for a leaf; bounded by [`MAX_DEPTH`] so that every recursive walk is bounded.
    pub height: usize,
}

impl Node {
    fn is_cond(&self) -> bool {
        matches!(
            self.kind,
            Kind::Cmp(..) | Kind::In { .. } | Kind::Matches { .. } | Kind::Not(_) | Kind::And(_) | Kind::Or(_)
        )
    }

    fn what(&self) -> &'static str {
        match self.kind {
            Kind::Str(_) => "a string",
            _ if self.is_cond() => "a condition",
            _ => "a value",
        }
    }
}

/// A parsed expression whose identifiers are still names.
#[derive(Debug, Clone)]
pub struct Expr {
    pub(super) root: Node,
    /// Unique names with the offset of their first use, in order of first use.
    pub(super) idents: Vec<(String, usize)>,
}

impl Expr {
    /// Every identifier with the byte offset of its first use, in order of first use.
    pub fn identifiers(&self) -> Vec<(String, usize)> {
        self.idents.clone()
    }
}

/// Parses a `filter` or `when` expression; the whole text must be one condition.
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    let mut p = Parser::new(src)?;
    if p.cur.tok == Tok::Eof {
        return Err(err(p.cur.start, "empty expression: expected a condition such as 'status >= 500'"));
    }
    let root = p.parse_or()?;
    match p.cur.tok {
        Tok::Eof => {}
        Tok::RParen => return Err(err(p.cur.start, "unmatched ')'")),
        _ if root.is_cond() => {
            return Err(err(p.cur.start, format!("expected 'and', 'or' or end of input, found {}", p.found())));
        }
        _ => {
            return Err(err(p.cur.start, format!("expected an operator after {}, found {}", p.prev_text(), p.found())));
        }
    }
    if !root.is_cond() {
        return Err(err(
            root.start,
            format!("the expression must be a condition such as 'status >= 500', found {}", root.what()),
        ));
    }
    Ok(Expr { root, idents: p.idents })
}

/// `matches` regexes are built like rule patterns: same dialect, same size limits.
pub(super) fn compile_regex(pattern: &str) -> Result<Regex, String> {
    crate::matcher::compile_regex(pattern, &crate::matcher::MatcherConfig::default()).map_err(|(message, _)| message)
}

struct Parser<'s> {
    src: &'s str,
    lexer: Lexer<'s>,
    cur: Token,
    /// Span of the last consumed token, for "expected ... after 'X'".
    prev: Option<(usize, usize)>,
    /// Open parentheses: the only construct the parser recurses on, so this bounds its stack.
    parens: usize,
    idents: Vec<(String, usize)>,
    ident_index: HashMap<&'s str, usize>,
}

impl<'s> Parser<'s> {
    fn new(src: &'s str) -> Result<Self, ExprError> {
        let mut lexer = Lexer::new(src);
        let cur = lexer.next_token()?;
        Ok(Parser { src, lexer, cur, prev: None, parens: 0, idents: Vec::new(), ident_index: HashMap::new() })
    }

    fn advance(&mut self) -> Result<Token, ExprError> {
        let next = self.lexer.next_token()?;
        let old = std::mem::replace(&mut self.cur, next);
        self.prev = Some((old.start, old.end));
        Ok(old)
    }

    fn text(&self, t: &Token) -> &'s str {
        &self.src[t.start..t.end]
    }

    fn prev_text(&self) -> String {
        self.prev.map_or_else(String::new, |(s, e)| quote(&self.src[s..e]))
    }

    /// The current token for a message, with a hint for `AND`/`Or`/... .
    fn found(&self) -> String {
        if self.cur.tok == Tok::Eof {
            return "end of input".to_string();
        }
        let text = self.text(&self.cur);
        let shown = quote(text);
        let lower = text.to_ascii_lowercase();
        if self.cur.tok == Tok::Ident && KEYWORDS.contains(&lower.as_str()) {
            return format!("{shown} (keywords are lowercase: '{lower}')");
        }
        shown
    }

    fn check_height(&self, height: usize, at: usize) -> Result<usize, ExprError> {
        if height > MAX_DEPTH {
            return Err(err(at, format!("expression nested too deeply (more than {MAX_DEPTH} levels)")));
        }
        Ok(height)
    }

    fn need_cond(&self, node: &Node, op: &str) -> Result<(), ExprError> {
        if node.is_cond() {
            return Ok(());
        }
        Err(err(node.start, format!("'{op}' needs a condition on each side, found {}", node.what())))
    }

    fn need_value(&self, node: &Node, op: &str, side: &str) -> Result<(), ExprError> {
        if !node.is_cond() {
            return Ok(());
        }
        Err(err(node.start, format!("'{op}' needs a value on its {side}, found a condition")))
    }

    fn need_number(&self, node: &Node, op: &str, side: &str) -> Result<(), ExprError> {
        if !node.is_cond() && !matches!(node.kind, Kind::Str(_)) {
            return Ok(());
        }
        Err(err(node.start, format!("'{op}' needs a number on its {side}, found {}", node.what())))
    }

    fn parse_or(&mut self) -> Result<Node, ExprError> {
        self.parse_chain(Tok::Or)
    }

    fn parse_and(&mut self) -> Result<Node, ExprError> {
        self.parse_chain(Tok::And)
    }

    /// `and` / `or` chains, as one n-ary node.
    fn parse_chain(&mut self, op: Tok) -> Result<Node, ExprError> {
        let operand = |p: &mut Self| if op == Tok::Or { p.parse_and() } else { p.parse_not() };
        let name = if op == Tok::Or { "or" } else { "and" };
        let first = operand(self)?;
        if self.cur.tok != op {
            return Ok(first);
        }
        self.need_cond(&first, name)?;
        let start = first.start;
        let mut height = first.height + 1;
        let mut kids = vec![first];
        while self.cur.tok == op {
            let at = self.advance()?.start;
            let next = operand(self)?;
            self.need_cond(&next, name)?;
            height = self.check_height(height.max(next.height + 1), at)?;
            kids.push(next);
        }
        let kind = if op == Tok::Or { Kind::Or(kids) } else { Kind::And(kids) };
        Ok(Node { kind, start, height })
    }

    fn parse_not(&mut self) -> Result<Node, ExprError> {
        // A loop, not recursion: `not not not ...` must not grow the stack.
        let mut nots = Vec::new();
        while self.cur.tok == Tok::Not {
            nots.push(self.advance()?.start);
        }
        let mut node = self.parse_cmp()?;
        if nots.is_empty() {
            return Ok(node);
        }
        if !node.is_cond() {
            return Err(err(node.start, format!("'not' needs a condition, found {}", node.what())));
        }
        for &at in nots.iter().rev() {
            let height = self.check_height(node.height + 1, at)?;
            node = Node { kind: Kind::Not(Box::new(node)), start: at, height };
        }
        Ok(node)
    }

    fn parse_cmp(&mut self) -> Result<Node, ExprError> {
        let lhs = self.parse_add()?;
        let op = match self.cur.tok {
            Tok::Eq => CmpOp::Eq,
            Tok::Ne => CmpOp::Ne,
            Tok::Lt => CmpOp::Lt,
            Tok::Le => CmpOp::Le,
            Tok::Gt => CmpOp::Gt,
            Tok::Ge => CmpOp::Ge,
            Tok::In => return self.parse_in_or_matches(lhs, false),
            Tok::Not => {
                self.advance()?;
                if !matches!(self.cur.tok, Tok::In | Tok::Matches) {
                    return Err(err(
                        self.cur.start,
                        format!("expected 'in' or 'matches' after 'not', found {}", self.found()),
                    ));
                }
                return self.parse_in_or_matches(lhs, true);
            }
            Tok::Matches => return self.parse_in_or_matches(lhs, false),
            _ => return Ok(lhs),
        };
        let op_tok = self.advance()?;
        let op_text = op.as_str();
        self.need_value(&lhs, op_text, "left")?;
        let rhs = self.parse_add()?;
        self.need_value(&rhs, op_text, "right")?;
        let height = self.check_height(lhs.height.max(rhs.height) + 1, op_tok.start)?;
        let start = lhs.start;
        let node = Node { kind: Kind::Cmp(op, Box::new(lhs), Box::new(rhs)), start, height };
        self.no_chain()?;
        Ok(node)
    }

    fn no_chain(&self) -> Result<(), ExprError> {
        if matches!(self.cur.tok, Tok::Eq | Tok::Ne | Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge | Tok::In | Tok::Matches) {
            return Err(err(
                self.cur.start,
                "comparisons cannot be chained; join them with 'and' (e.g. 'a < b and b < c')",
            ));
        }
        Ok(())
    }

    /// `in [..]` or `matches '..'`, with the current token on the keyword.
    fn parse_in_or_matches(&mut self, lhs: Node, negated: bool) -> Result<Node, ExprError> {
        let kw = self.advance()?;
        let is_in = kw.tok == Tok::In;
        let op = match (is_in, negated) {
            (true, false) => "in",
            (true, true) => "not in",
            (false, false) => "matches",
            (false, true) => "not matches",
        };
        self.need_value(&lhs, op, "left")?;
        let height = self.check_height(lhs.height + 1, kw.start)?;
        let start = lhs.start;
        let value = Box::new(lhs);
        let kind = if is_in {
            Kind::In { value, list: self.parse_list()?, negated }
        } else {
            let Tok::Str(pattern) = &self.cur.tok else {
                return Err(err(
                    self.cur.start,
                    format!("expected a string literal (the regex) after '{op}', found {}", self.found()),
                ));
            };
            let regex = compile_regex(pattern).map_err(|e| err(self.cur.start, format!("invalid regex: {e}")))?;
            let pattern = pattern.clone();
            self.advance()?;
            Kind::Matches { value, pattern, regex, negated }
        };
        self.no_chain()?;
        Ok(Node { kind, start, height })
    }

    fn parse_list(&mut self) -> Result<Vec<Lit>, ExprError> {
        if self.cur.tok != Tok::LBracket {
            return Err(err(
                self.cur.start,
                format!("expected a list such as [200, 'x'] after {}, found {}", self.prev_text(), self.found()),
            ));
        }
        let open = self.advance()?.start;
        let unclosed = || err(open, "unclosed '['");
        let mut items = Vec::new();
        loop {
            match self.cur.tok {
                Tok::RBracket if items.is_empty() => return Err(err(open, "empty list: give at least one value")),
                Tok::RBracket => {
                    self.advance()?;
                    return Ok(items);
                }
                Tok::Eof => return Err(unclosed()),
                _ => {}
            }
            let minus = self.cur.tok == Tok::Minus;
            if minus {
                self.advance()?;
            }
            let item = match (&self.cur.tok, minus) {
                (Tok::Num(n), _) => Lit::Num(if minus { -n } else { *n }),
                (Tok::Str(s), false) => Lit::Str(s.clone()),
                (Tok::Eof, _) => return Err(unclosed()),
                (_, true) => {
                    return Err(err(self.cur.start, format!("expected a number after '-', found {}", self.found())));
                }
                (_, false) => {
                    return Err(err(
                        self.cur.start,
                        format!("list elements must be numbers or strings, found {}", self.found()),
                    ));
                }
            };
            items.push(item);
            self.advance()?;
            match self.cur.tok {
                Tok::Comma => {
                    self.advance()?;
                }
                Tok::RBracket => {}
                Tok::Eof => return Err(unclosed()),
                _ => {
                    return Err(err(
                        self.cur.start,
                        format!("expected ',' or ']' in the list, found {}", self.found()),
                    ));
                }
            }
        }
    }

    fn parse_add(&mut self) -> Result<Node, ExprError> {
        self.parse_arith(true)
    }

    fn parse_mul(&mut self) -> Result<Node, ExprError> {
        self.parse_arith(false)
    }

    /// Left-associative `+ -` (additive) or `* /` chains.
    fn parse_arith(&mut self, additive: bool) -> Result<Node, ExprError> {
        let operand = |p: &mut Self| if additive { p.parse_mul() } else { p.parse_unary() };
        let mut lhs = operand(self)?;
        loop {
            let op = match (&self.cur.tok, additive) {
                (Tok::Plus, true) => ArithOp::Add,
                (Tok::Minus, true) => ArithOp::Sub,
                (Tok::Star, false) => ArithOp::Mul,
                (Tok::Slash, false) => ArithOp::Div,
                _ => return Ok(lhs),
            };
            let at = self.advance()?.start;
            self.need_number(&lhs, op.as_str(), "left")?;
            let rhs = operand(self)?;
            self.need_number(&rhs, op.as_str(), "right")?;
            let height = self.check_height(lhs.height.max(rhs.height) + 1, at)?;
            let start = lhs.start;
            lhs = Node { kind: Kind::Arith(op, Box::new(lhs), Box::new(rhs)), start, height };
        }
    }

    fn parse_unary(&mut self) -> Result<Node, ExprError> {
        let mut minuses = Vec::new();
        while self.cur.tok == Tok::Minus {
            minuses.push(self.advance()?.start);
        }
        let mut node = self.parse_primary()?;
        if minuses.is_empty() {
            return Ok(node);
        }
        if node.is_cond() || matches!(node.kind, Kind::Str(_)) {
            return Err(err(node.start, format!("'-' needs a number, found {}", node.what())));
        }
        for &at in minuses.iter().rev() {
            let height = self.check_height(node.height + 1, at)?;
            node = Node { kind: Kind::Neg(Box::new(node)), start: at, height };
        }
        Ok(node)
    }

    fn parse_primary(&mut self) -> Result<Node, ExprError> {
        let start = self.cur.start;
        match self.cur.tok {
            Tok::Num(_) | Tok::Str(_) | Tok::Ident | Tok::LParen => {}
            Tok::LBracket => return Err(err(start, "a list is only allowed after 'in' or 'not in'")),
            _ => return Err(self.expected_value()),
        }
        let t = self.advance()?;
        let kind = match t.tok {
            Tok::Num(n) => Kind::Num(n),
            Tok::Str(s) => Kind::Str(s),
            Tok::Ident => {
                let name = self.text(&t);
                if self.cur.tok == Tok::LParen {
                    return Err(err(start, format!("unknown function '{name}' (expressions have no functions)")));
                }
                let idents = &mut self.idents;
                let index = *self.ident_index.entry(name).or_insert_with(|| {
                    idents.push((name.to_string(), start));
                    idents.len() - 1
                });
                Kind::Ident(index)
            }
            _ => return self.parse_group(start),
        };
        Ok(Node { kind, start, height: 1 })
    }

    /// After `(`.
    fn parse_group(&mut self, open: usize) -> Result<Node, ExprError> {
        if self.parens >= MAX_DEPTH {
            return Err(err(open, format!("expression nested too deeply (more than {MAX_DEPTH} levels)")));
        }
        self.parens += 1;
        let mut inner = self.parse_or()?;
        self.parens -= 1;
        match self.cur.tok {
            Tok::RParen => {
                self.advance()?;
                inner.start = open;
                Ok(inner)
            }
            Tok::Eof => Err(err(open, "unclosed '('")),
            _ if inner.is_cond() => {
                Err(err(self.cur.start, format!("expected 'and', 'or' or ')', found {}", self.found())))
            }
            _ => Err(err(self.cur.start, format!("expected an operator or ')', found {}", self.found()))),
        }
    }

    fn expected_value(&self) -> ExprError {
        let found = self.found();
        let message = match self.prev {
            None => format!("expected a condition, found {found}"),
            Some((s, e)) => {
                let prev = &self.src[s..e];
                let what = if matches!(prev, "and" | "or" | "not") { "condition" } else { "value" };
                format!("expected a {what} after {}, found {found}", quote(prev))
            }
        };
        err(self.cur.start, message)
    }
}

/// Fully parenthesised, so that it re-parses to the same tree whatever the precedence.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_node(&self.root, &self.idents, f)
    }
}

fn fmt_node(node: &Node, idents: &[(String, usize)], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let sub = |n: &Node, f: &mut fmt::Formatter<'_>| fmt_node(n, idents, f);
    match &node.kind {
        Kind::Num(n) => write!(f, "{n}"),
        Kind::Str(s) => fmt_str(s, f),
        Kind::Ident(i) => f.write_str(&idents[*i].0),
        Kind::Neg(x) => {
            f.write_str("(-")?;
            sub(x, f)?;
            f.write_str(")")
        }
        Kind::Arith(op, l, r) => {
            f.write_str("(")?;
            sub(l, f)?;
            write!(f, " {} ", op.as_str())?;
            sub(r, f)?;
            f.write_str(")")
        }
        Kind::Cmp(op, l, r) => {
            f.write_str("(")?;
            sub(l, f)?;
            write!(f, " {} ", op.as_str())?;
            sub(r, f)?;
            f.write_str(")")
        }
        Kind::In { value, list, negated } => {
            f.write_str("(")?;
            sub(value, f)?;
            f.write_str(if *negated { " not in [" } else { " in [" })?;
            for (i, item) in list.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                match item {
                    Lit::Num(n) => write!(f, "{n}")?,
                    Lit::Str(s) => fmt_str(s, f)?,
                }
            }
            f.write_str("])")
        }
        Kind::Matches { value, pattern, negated, .. } => {
            f.write_str("(")?;
            sub(value, f)?;
            f.write_str(if *negated { " not matches " } else { " matches " })?;
            fmt_str(pattern, f)?;
            f.write_str(")")
        }
        Kind::Not(x) => {
            f.write_str("(not ")?;
            sub(x, f)?;
            f.write_str(")")
        }
        Kind::And(kids) | Kind::Or(kids) => {
            let op = if matches!(node.kind, Kind::And(_)) { " and " } else { " or " };
            f.write_str("(")?;
            for (i, kid) in kids.iter().enumerate() {
                if i > 0 {
                    f.write_str(op)?;
                }
                sub(kid, f)?;
            }
            f.write_str(")")
        }
    }
}

/// A backslash is doubled only where the lexer would otherwise read an
/// escape, so a regex like `\d+` prints as written.
fn fmt_str(s: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str("'")?;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => f.write_str("\\'")?,
            '\\' if matches!(chars.peek(), None | Some('\\' | '\'')) => f.write_str("\\\\")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("'")
}
