//! The one error type of this crate.

use std::path::PathBuf;

use datafusion::arrow::error::ArrowError;
use datafusion::parquet::errors::ParquetError;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: parquet: {source}")]
    Parquet { path: PathBuf, source: ParquetError },
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    #[error("table {table}: batch schema does not match the table's: {detail}")]
    Schema { table: &'static str, detail: String },
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("invalid store configuration: {0}")]
    Config(String),
}

impl SinkError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SinkError {
        let path = path.into();
        move |source| SinkError::Io { path, source }
    }

    pub(crate) fn parquet(path: impl Into<PathBuf>) -> impl FnOnce(ParquetError) -> SinkError {
        let path = path.into();
        move |source| SinkError::Parquet { path, source }
    }
}
