//! The one error of the expression language: parsing and binding fail with an
//! [`ExprError`] at a byte offset of the expression's source, which callers turn
//! into a `path:line:col` inside the rule file's string.

/// A parse or bind error at a byte offset of the expression's source.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub offset: usize,
    pub message: String,
}
