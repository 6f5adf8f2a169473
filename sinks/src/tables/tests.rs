use super::*;

#[test]
fn qalarm_text_columns_are_the_schema_after_time() {
    let schema = Table::QalarmEvents.schema();
    let names: Vec<&str> = schema.fields().iter().skip(1).map(|f| f.name().as_str()).collect();
    assert_eq!(names, QALARM_TEXT_COLUMNS);
}

#[test]
fn every_table_names_existing_columns() {
    for table in Table::ALL {
        let schema = table.schema();
        let mut columns: Vec<&str> = table.sort_columns().to_vec();
        columns.push(table.partition_column());
        columns.extend(table.seq_column());
        for column in columns {
            assert!(schema.index_of(column).is_ok(), "{table}: {column}");
        }
    }
}
