//! Query results as text: an aligned table for people, CSV and JSON for programs.
//! Timestamps are RFC 3339 in UTC (`2026-11-26T10:15:00Z`), as in `replay`'s CSV.

use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::service::QueryResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    /// One JSON array of row objects.
    Json,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => Err(format!("unknown format '{other}' (table, csv, json)")),
        }
    }
}

const TIMESTAMP_UTC: &str = "%Y-%m-%dT%H:%M:%S%.fZ";

pub fn write(result: &QueryResult, format: Format, out: &mut dyn Write) -> Result<(), ArrowError> {
    let batches = in_utc(result)?;
    match format {
        Format::Table => {
            writeln!(out, "{}", pretty_format_batches(&batches)?)?;
        }
        Format::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .with_timestamp_tz_format(TIMESTAMP_UTC.to_string())
                .build(&mut *out);
            if batches.is_empty() {
                writer.write(&RecordBatch::new_empty(result.schema.clone()))?;
            }
            for batch in &batches {
                writer.write(batch)?;
            }
        }
        Format::Json => {
            let mut writer = datafusion::arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .with_timestamp_tz_format(TIMESTAMP_UTC.to_string())
                .build::<_, datafusion::arrow::json::writer::JsonArray>(&mut *out);
            for batch in &batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// The batches with every zoned timestamp column cast to UTC (the same instants), so
/// that the `Z` in the output format is always true.
fn in_utc(result: &QueryResult) -> Result<Vec<RecordBatch>, ArrowError> {
    let needs = |t: &DataType| matches!(t, DataType::Timestamp(_, Some(tz)) if tz.as_ref() != "UTC");
    if !result.schema.fields().iter().any(|f| needs(f.data_type())) {
        return Ok(result.batches.clone());
    }
    let fields: Vec<Field> = result
        .schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(unit, Some(_)) if needs(f.data_type()) => {
                f.as_ref().clone().with_data_type(DataType::Timestamp(*unit, Some("UTC".into())))
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    result
        .batches
        .iter()
        .map(|b| {
            let columns = b
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| if c.data_type() == f.data_type() { Ok(c.clone()) } else { cast(c, f.data_type()) })
                .collect::<Result<Vec<_>, _>>()?;
            RecordBatch::try_new(schema.clone(), columns)
        })
        .collect()
}
