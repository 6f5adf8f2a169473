//! The one error type of this crate, and how it maps to HTTP at the edge.

use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use datafusion::error::DataFusionError;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The SQL does not parse.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// It parses but cannot be planned: unknown table or column, type errors.
    #[error("{0}")]
    Plan(String),
    /// DDL, DML, COPY, SET and the like.
    #[error("{0} is not allowed: logpulse SQL is read-only")]
    ReadOnly(String),
    #[error("query exceeded its time limit of {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("query exceeded its memory limit: {0}")]
    MemoryLimit(String),
    #[error("query result exceeded {0} bytes; add a LIMIT or aggregate")]
    ResultTooLarge(usize),
    #[error("query failed: {0}")]
    Execution(String),
    #[error("invalid query configuration: {0}")]
    Config(String),
}

impl QueryError {
    /// The HTTP status of this error at the API's edge.
    pub fn http_status(&self) -> u16 {
        match self {
            QueryError::Syntax(_) | QueryError::Plan(_) => 400,
            QueryError::ReadOnly(_) => 403,
            QueryError::Timeout(_) => 408,
            QueryError::MemoryLimit(_) | QueryError::ResultTooLarge(_) => 413,
            QueryError::Execution(_) | QueryError::Config(_) => 500,
        }
    }

    /// A stable machine-readable name, for the JSON error body.
    pub fn kind(&self) -> &'static str {
        match self {
            QueryError::Syntax(_) => "syntax",
            QueryError::Plan(_) => "plan",
            QueryError::ReadOnly(_) => "read_only",
            QueryError::Timeout(_) => "timeout",
            QueryError::MemoryLimit(_) => "memory_limit",
            QueryError::ResultTooLarge(_) => "result_too_large",
            QueryError::Execution(_) => "execution",
            QueryError::Config(_) => "config",
        }
    }

    /// Whether the fault is the query's (the CLI exits 2) rather than the system's.
    pub fn is_user_error(&self) -> bool {
        self.http_status() < 500
    }
}

/// One line, without DataFusion's nesting of contexts and backtraces.
fn one_line(e: &DataFusionError) -> String {
    let text = e.find_root().strip_backtrace();
    let text = text.split_once(": ").filter(|(head, _)| head.ends_with("error")).map_or(text.as_str(), |(_, t)| t);
    text.lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

impl From<DataFusionError> for QueryError {
    fn from(e: DataFusionError) -> Self {
        match e.find_root() {
            DataFusionError::SQL(..) => QueryError::Syntax(one_line(&e)),
            DataFusionError::Plan(_) | DataFusionError::SchemaError(..) | DataFusionError::NotImplemented(_) => {
                QueryError::Plan(one_line(&e))
            }
            DataFusionError::ResourcesExhausted(_) => QueryError::MemoryLimit(one_line(&e)),
            _ => QueryError::Execution(one_line(&e)),
        }
    }
}

/// A JSON error body with its status.
pub fn error_response(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": kind, "message": message.into() });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        error_response(status, self.kind(), self.to_string())
    }
}
