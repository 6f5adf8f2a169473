//! Tokens of the expression language, produced one at a time so that errors
//! come out in source order.

use super::error::ExprError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// Always finite and non-negative: the sign is an operator.
    Num(f64),
    /// The unescaped contents.
    Str(String),
    /// The name is the token's source text.
    Ident,
    And,
    Or,
    Not,
    In,
    Matches,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Eof,
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

pub(super) const KEYWORDS: [&str; 5] = ["and", "or", "not", "in", "matches"];

pub(super) fn err(offset: usize, message: impl Into<String>) -> ExprError {
    ExprError { offset, message: message.into() }
}

/// Source text quoted for a message (a string literal already is); long
/// words are cut so that one error line stays readable.
pub(super) fn quote(text: &str) -> String {
    const MAX: usize = 40;
    let q = if text.starts_with('\'') { "" } else { "'" };
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{q}{}...{q}", &text[..cut]),
        None => format!("{q}{text}{q}"),
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

pub(super) struct Lexer<'s> {
    src: &'s str,
    pos: usize,
}

impl<'s> Lexer<'s> {
    pub fn new(src: &'s str) -> Self {
        Lexer { src, pos: 0 }
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.src.as_bytes().get(at).copied()
    }

    pub fn next_token(&mut self) -> Result<Token, ExprError> {
        let rest = &self.src[self.pos..];
        let trimmed = rest.trim_start();
        self.pos += rest.len() - trimmed.len();
        let start = self.pos;
        let Some(c) = trimmed.chars().next() else {
            return Ok(Token { tok: Tok::Eof, start, end: start });
        };
        let next = self.byte(start + 1);
        let (tok, len) = match c {
            '0'..='9' => return self.number(start),
            c if c.is_ascii() && is_ident_start(c as u8) => return self.ident(start),
            '\'' => return self.string(start),
            '"' => return Err(err(start, "strings are written in single quotes, e.g. 'prod'")),
            '.' if next.is_some_and(|b| b.is_ascii_digit()) => {
                return Err(err(start, "a number must start with a digit (write 0.5, not .5)"));
            }
            '=' => match next {
                Some(b'=') => (Tok::Eq, 2),
                Some(b'~') => return Err(err(start, "unknown operator '=~' (did you mean 'matches')")),
                _ => return Err(err(start, "unknown operator '=' (did you mean '==')")),
            },
            '!' => match next {
                Some(b'=') => (Tok::Ne, 2),
                Some(b'~') => return Err(err(start, "unknown operator '!~' (did you mean 'not matches')")),
                _ => return Err(err(start, "unknown operator '!' (did you mean '!=' or 'not')")),
            },
            '<' => match next {
                Some(b'=') => (Tok::Le, 2),
                Some(b'>') => return Err(err(start, "unknown operator '<>' (did you mean '!=')")),
                _ => (Tok::Lt, 1),
            },
            '>' => match next {
                Some(b'=') => (Tok::Ge, 2),
                _ => (Tok::Gt, 1),
            },
            '&' | '|' => {
                let op = if next == Some(c as u8) { format!("{c}{c}") } else { c.to_string() };
                let word = if c == '&' { "and" } else { "or" };
                return Err(err(start, format!("unknown operator '{op}' (did you mean '{word}')")));
            }
            '+' => (Tok::Plus, 1),
            '-' => (Tok::Minus, 1),
            '*' => (Tok::Star, 1),
            '/' => (Tok::Slash, 1),
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            '[' => (Tok::LBracket, 1),
            ']' => (Tok::RBracket, 1),
            ',' => (Tok::Comma, 1),
            other => return Err(err(start, format!("unexpected character '{}'", other.escape_debug()))),
        };
        self.pos += len;
        Ok(Token { tok, start, end: self.pos })
    }

    fn digits(&self, mut i: usize) -> usize {
        while self.byte(i).is_some_and(|b| b.is_ascii_digit()) {
            i += 1;
        }
        i
    }

    fn number(&mut self, start: usize) -> Result<Token, ExprError> {
        let mut i = self.digits(start);
        let mut bad = false;
        if self.byte(i) == Some(b'.') {
            bad = !self.byte(i + 1).is_some_and(|b| b.is_ascii_digit());
            i = self.digits(i + 1);
        }
        if !bad && matches!(self.byte(i), Some(b'e' | b'E')) {
            let mut j = i + 1;
            if matches!(self.byte(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if self.byte(j).is_some_and(|b| b.is_ascii_digit()) {
                i = self.digits(j);
            } else {
                bad = true;
            }
        }
        // `500ms` or `1.2.3` is one mistake, not a number followed by a name.
        if bad || self.byte(i).is_some_and(|b| is_ident_char(b) || b == b'.') {
            while self.byte(i).is_some_and(|b| is_ident_char(b) || b == b'.') {
                i += 1;
            }
            return Err(err(start, format!("invalid number {}", quote(&self.src[start..i]))));
        }
        let text = &self.src[start..i];
        let n: f64 = text.parse().map_err(|_| err(start, format!("invalid number {}", quote(text))))?;
        if !n.is_finite() {
            return Err(err(start, format!("number {} is out of range", quote(text))));
        }
        self.pos = i;
        Ok(Token { tok: Tok::Num(n), start, end: i })
    }

    fn ident(&mut self, start: usize) -> Result<Token, ExprError> {
        let mut i = start + 1;
        while self.byte(i).is_some_and(is_ident_char) {
            i += 1;
        }
        while self.byte(i) == Some(b'.') {
            if !self.byte(i + 1).is_some_and(is_ident_char) {
                return Err(err(i, format!("expected a field name after {}", quote(&self.src[start..=i]))));
            }
            i += 2;
            while self.byte(i).is_some_and(is_ident_char) {
                i += 1;
            }
        }
        let tok = match &self.src[start..i] {
            "and" => Tok::And,
            "or" => Tok::Or,
            "not" => Tok::Not,
            "in" => Tok::In,
            "matches" => Tok::Matches,
            _ => Tok::Ident,
        };
        self.pos = i;
        Ok(Token { tok, start, end: i })
    }

    fn string(&mut self, start: usize) -> Result<Token, ExprError> {
        let unterminated = || err(start, "unterminated string: missing closing quote (')");
        let body = &self.src[start + 1..];
        let mut out = String::new();
        let mut chars = body.char_indices();
        let end = loop {
            match chars.next().ok_or_else(unterminated)? {
                (k, '\'') => break start + 1 + k + 1,
                (_, '\\') => match chars.next().ok_or_else(unterminated)?.1 {
                    c @ ('\'' | '\\') => out.push(c),
                    // Other escapes stay as written, so that regexes like '\d+' need no doubling.
                    c => {
                        out.push('\\');
                        out.push(c);
                    }
                },
                (_, c) => out.push(c),
            }
        };
        self.pos = end;
        Ok(Token { tok: Tok::Str(out), start, end })
    }
}
