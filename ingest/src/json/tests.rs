use super::*;

/// When the lines of these tests arrived (only year-less times would depend on it).
const RECEIVED_MS: i64 = 1_795_780_800_000;

fn dec(paths: &[&str]) -> JsonDecoder {
    JsonDecoder::new(paths.iter().map(|s| s.to_string()).collect(), None)
}

#[test]
fn top_level_and_dotted_paths() {
    let d = dec(&["status", "req.status", "req.path", "user.name", "missing", "a.b.c", "flag", "tags", "nothing"]);
    assert_eq!(d.field_names().len(), 9);
    let line = r#"{"status": 1.50, "req": {"status": 200, "path": "/x \"y\"", "deep": {"ignored": [1,2,{"q":3}]}}, "user.name": "bob", "a": {"b": {"c": -3e2}}, "flag": true, "tags": ["x", 1], "nothing": null, "big": 1e999}"#;
    let ev = d.decode(line, RECEIVED_MS).unwrap();
    assert_eq!(ev.text, line);
    assert_eq!(ev.time_ms, None);
    assert_eq!(ev.fields[0], Some(FieldValue::Number { value: 1.5, text: "1.50".into() }));
    assert_eq!(ev.fields[1], Some(FieldValue::Number { value: 200.0, text: "200".into() }));
    assert_eq!(ev.fields[2], Some(FieldValue::Text("/x \"y\"".into())));
    assert_eq!(ev.fields[3], Some(FieldValue::Text("bob".into())));
    assert_eq!(ev.fields[4], None);
    assert_eq!(ev.fields[5], Some(FieldValue::Number { value: -300.0, text: "-3e2".into() }));
    assert_eq!(ev.fields[6], Some(FieldValue::Text("true".into())));
    assert_eq!(ev.fields[7], Some(FieldValue::Text(r#"["x", 1]"#.into())));
    assert_eq!(ev.fields[8], None);
}

#[test]
fn strings_borrow_unless_escaped() {
    let d = dec(&["a", "b", "é"]);
    let ev = d.decode(r#"{"a":"plain","b":"tab\tand \u00e9","\u00e9":"key escaped"}"#, RECEIVED_MS).unwrap();
    assert!(matches!(ev.fields[0], Some(FieldValue::Text(Cow::Borrowed("plain")))));
    assert_eq!(ev.fields[1], Some(FieldValue::Text("tab\tand é".into())));
    assert_eq!(ev.fields[2], Some(FieldValue::Text("key escaped".into())));
}

#[test]
fn objects_as_fields_and_nested_prefix_not_object() {
    let d = dec(&["req", "req.status"]);
    let ev = d.decode(r#"{"req": {"status": 404}}"#, RECEIVED_MS).unwrap();
    assert_eq!(ev.fields[0], Some(FieldValue::Text(r#"{"status": 404}"#.into())));
    assert_eq!(ev.fields[1].as_ref().and_then(FieldValue::as_f64), Some(404.0));
    let ev = d.decode(r#"{"req": "GET /"}"#, RECEIVED_MS).unwrap();
    assert_eq!(ev.fields[1], None);
    // A later duplicate key wins, as in most JSON readers.
    let ev = d.decode(r#"{"req": 1, "req": 2}"#, RECEIVED_MS).unwrap();
    assert_eq!(ev.fields[0].as_ref().unwrap().text(), "2");
}

#[test]
fn bad_lines_are_decode_errors() {
    let d = dec(&["a"]);
    for line in ["", "[1,2]", "42", "\"s\"", "{", "{\"a\":1} trailing", "{\"a\":1}{}", "not json", "{\"a\":}"] {
        assert_eq!(d.decode(line, RECEIVED_MS).unwrap_err().reason, ErrorReason::Decode, "{line}");
    }
    assert!(d.decode("  {\"a\":1}  \r", RECEIVED_MS).is_ok());
    let deep = format!("{}{}", "{\"x\":".repeat(10_000), "}".repeat(10_000));
    assert_eq!(d.decode(&deep, RECEIVED_MS).unwrap_err().reason, ErrorReason::Decode);
}

#[test]
fn time_fields() {
    let rfc = JsonDecoder::new(vec!["ts".into()], Some(("ts".into(), TimeParser::new("rfc3339", None, None).unwrap())));
    let ev = rfc.decode(r#"{"ts":"2000-10-10T13:55:36-07:00"}"#, RECEIVED_MS).unwrap();
    assert_eq!(ev.time_ms, Some(971_211_336_000));
    assert_eq!(ev.fields.len(), 1);
    assert_eq!(ev.fields[0].as_ref().unwrap().text(), "2000-10-10T13:55:36-07:00");
    for bad in [r#"{"ts":"yesterday"}"#, r#"{"ts":null}"#, r#"{"other":1}"#, r#"{"ts":{"a":1}}"#] {
        assert_eq!(rfc.decode(bad, RECEIVED_MS).unwrap_err().reason, ErrorReason::Time, "{bad}");
    }
    let unix =
        JsonDecoder::new(vec!["msg".into()], Some(("meta.t".into(), TimeParser::new("unix", None, None).unwrap())));
    let ev = unix.decode(r#"{"msg":"hi","meta":{"t":1700000000.5}}"#, RECEIVED_MS).unwrap();
    assert_eq!(ev.time_ms, Some(1_700_000_000_500));
    assert_eq!(ev.fields.len(), 1);
    let ev = unix.decode(r#"{"meta":{"t":"1700000000"}}"#, RECEIVED_MS).unwrap();
    assert_eq!(ev.time_ms, Some(1_700_000_000_000));
    let ms = JsonDecoder::new(vec![], Some(("t".into(), TimeParser::new("unix_ms", None, None).unwrap())));
    assert_eq!(ms.decode(r#"{"t":1700000000123}"#, RECEIVED_MS).unwrap().time_ms, Some(1_700_000_000_123));
    let chrono = JsonDecoder::new(
        vec![],
        Some(("t".into(), TimeParser::new("%Y-%m-%d %H:%M:%S", None, Some("+01:00")).unwrap())),
    );
    assert_eq!(chrono.decode(r#"{"t":"2000-10-10 21:55:36"}"#, RECEIVED_MS).unwrap().time_ms, Some(971_211_336_000));
}

proptest::proptest! {
    #[test]
    fn decode_never_panics(line in "\\PC{0,100}", json in "[{}\\[\\]\":,a-c0-9. \\\\nul-]{0,60}") {
        let d = dec(&["a", "a.b", "b.c.a", ""]);
        let _ = d.decode(&line, RECEIVED_MS);
        let _ = d.decode(&json, RECEIVED_MS);
    }
}
