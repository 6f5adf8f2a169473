//! Rule file errors in `path:line:col: message` form.

use std::fmt;
use std::ops::Range;

/// A rule file's text, kept so that byte offsets can become `line:col`.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the user gave it; the prefix of every error.
    pub path: String,
    /// The whole file, as read.
    pub text: String,
}

impl SourceFile {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        Self { path: path.into(), text: text.into() }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text.as_bytes()[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let col = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
        (line, col)
    }

    pub fn error_at(&self, offset: usize, message: impl Into<String>) -> RuleError {
        let (line, col) = self.line_col(offset);
        RuleError { path: self.path.clone(), line, col, message: message.into() }
    }

    /// An error at a span of a TOML value.
    pub fn error_in(&self, span: Range<usize>, message: impl Into<String>) -> RuleError {
        self.error_at(span.start, message)
    }

    /// An error inside a TOML string literal: `inner` is a byte offset into the
    /// string's value. The value's span includes its quotes; for the plain
    /// single-line strings rules are written in (`'...'`, `"..."` without
    /// escapes before the offset) this lands on the exact character, and
    /// otherwise on the string's start.
    pub fn error_inside_string(&self, span: Range<usize>, inner: usize, message: impl Into<String>) -> RuleError {
        let raw = self.text.get(span.clone()).unwrap_or("");
        let quote_len = if raw.starts_with("'''") || raw.starts_with("\"\"\"") { 3 } else { 1 };
        let body = raw.get(quote_len..).unwrap_or("");
        let escaped_before = raw.starts_with('"') && body.get(..inner).is_none_or(|b| b.contains('\\'));
        let offset = if escaped_before || quote_len == 3 { span.start } else { span.start + quote_len + inner };
        self.error_at(offset.min(span.end), message)
    }
}

/// One problem in a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub path: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.path, self.line, self.col, self.message)
    }
}

impl std::error::Error for RuleError {}

/// Every problem found in a rule set; a rule set with any is refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleErrors(pub Vec<RuleError>);

impl fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl From<RuleError> for RuleErrors {
    fn from(e: RuleError) -> Self {
        RuleErrors(vec![e])
    }
}

#[cfg(test)]
mod tests;
