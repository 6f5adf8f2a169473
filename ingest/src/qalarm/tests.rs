use proptest::prelude::*;
use rmpv::Value;
use serde_json::json;

use super::measure::value_len;
use super::probe::has_sdk_shape;
use super::*;
use crate::error::ErrorReason;
use crate::event::{Event, FieldValue};
use crate::time::seconds_f64_to_ms;

fn sample() -> QalarmEvent {
    QalarmEvent {
        project: "shop".into(),
        module: "pay".into(),
        code: json!(500),
        env: "prod".into(),
        message: json!("支付失败: timeout ✗"),
        time: 1_700_000_000.123,
        server_ip: "10.0.0.7".into(),
        client_ip: "1.2.3.4".into(),
        script: "/srv/pay.php".into(),
    }
}

fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, v).unwrap();
    out
}

fn text(ev: &Event<'_>, name: &str) -> Option<String> {
    let i = FIELDS.iter().position(|f| *f == name).unwrap();
    ev.fields[i].as_ref().map(|v| v.text().to_owned())
}

fn field<'e>(ev: &'e Event<'_>, name: &str) -> Option<&'e FieldValue<'e>> {
    let i = FIELDS.iter().position(|f| *f == name).unwrap();
    ev.fields[i].as_ref()
}

fn check_sample(ev: &Event<'_>) {
    assert_eq!(ev.fields.len(), FIELDS.len());
    assert_eq!(ev.time_ms, Some(1_700_000_000_123));
    assert_eq!(ev.host.as_deref(), Some("10.0.0.7"));
    assert_eq!(ev.text, "支付失败: timeout ✗");
    assert_eq!(text(ev, "project").as_deref(), Some("shop"));
    assert_eq!(text(ev, "module").as_deref(), Some("pay"));
    assert_eq!(field(ev, "code"), Some(&FieldValue::Number { value: 500.0, text: "500".into() }));
    assert_eq!(text(ev, "env").as_deref(), Some("prod"));
    assert_eq!(text(ev, "message").as_deref(), Some("支付失败: timeout ✗"));
    assert_eq!(field(ev, "time").and_then(FieldValue::as_f64), Some(1_700_000_000.123));
    assert_eq!(text(ev, "client_ip").as_deref(), Some("1.2.3.4"));
    assert_eq!(text(ev, "script").as_deref(), Some("/srv/pay.php"));
}

#[test]
fn our_encoder_round_trips() {
    let bytes = sample().to_msgpack();
    check_sample(&decode_event(&bytes).unwrap());
    let back: QalarmEvent = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(back, sample());
    // Map keys in FIELDS order.
    let Value::Map(pairs) = rmpv::decode::read_value(&mut &bytes[..]).unwrap() else { panic!() };
    let keys: Vec<_> = pairs.iter().map(|(k, _)| k.as_str().unwrap().to_owned()).collect();
    assert_eq!(keys, FIELDS);
}

#[test]
fn rmp_serde_compact_arrays() {
    let bytes = rmp_serde::to_vec(&sample()).unwrap();
    assert_eq!(bytes[0], 0x99, "a fixarray of 9");
    check_sample(&decode_event(&bytes).unwrap());
    // Older SDKs without the trailing fields: they are missing.
    let short =
        encode(&Value::Array(vec!["p".into(), "m".into(), 1.into(), "dev".into(), "msg".into(), 1_700_000_000.into()]));
    let ev = decode_event(&short).unwrap();
    assert_eq!(ev.time_ms, Some(1_700_000_000_000));
    assert_eq!(field(&ev, "server_ip"), None);
    assert_eq!(ev.host, None);
}

#[test]
fn named_map_with_bin_keys_and_unknown_keys() {
    let v = Value::Map(vec![
        (Value::Binary(b"project".to_vec()), Value::Binary(b"legacy".to_vec())),
        (Value::Binary(b"code".to_vec()), Value::from("E42")),
        (Value::from("extra"), Value::from(1)),
        (Value::from(7), Value::from("int key")),
        (Value::Binary(b"time".to_vec()), Value::from("1700000000.5")),
        (
            Value::Binary(b"message".to_vec()),
            Value::Map(vec![(Value::from("k"), Value::from(vec![Value::from(1), Value::Nil, Value::from(2.5)]))]),
        ),
        (Value::Binary(b"server_ip".to_vec()), Value::from("")),
    ]);
    let ev = decode_event(&encode(&v)).unwrap();
    assert_eq!(ev.time_ms, Some(1_700_000_000_500));
    assert_eq!(text(&ev, "project").as_deref(), Some("legacy"));
    assert_eq!(field(&ev, "code"), Some(&FieldValue::Text("E42".into())));
    assert_eq!(ev.text, r#"{"k":[1,null,2.5]}"#);
    assert_eq!(text(&ev, "message").as_deref(), Some(r#"{"k":[1,null,2.5]}"#));
    assert_eq!(field(&ev, "module"), None);
    // An empty server_ip is no host.
    assert_eq!(ev.host, None);
}

/// Odd but legitimate events (an integer key, a `code` array, a repeated field, a
/// compact array with an array `code`) decode through the stream decoder and the
/// Kafka path too, not only through `decode_event`.
#[test]
fn odd_shaped_events_still_decode_in_streams_and_messages() {
    let int_key = Value::Map(vec![
        ("project".into(), "p".into()),
        ("time".into(), 1_700_000_000.into()),
        (Value::from(7), "int key".into()),
    ]);
    let code_array = Value::Map(vec![
        ("project".into(), "p".into()),
        ("time".into(), 1_700_000_000.into()),
        ("code".into(), Value::from(vec![Value::from(500), Value::from(3)])),
    ]);
    let repeated = Value::Map(vec![
        ("project".into(), "p".into()),
        ("time".into(), 1_700_000_000.into()),
        ("project".into(), "q".into()),
    ]);
    let mut odd: Vec<Vec<u8>> = [int_key, code_array, repeated].iter().map(encode).collect();
    odd.push(rmp_serde::to_vec(&QalarmEvent { code: json!([1, 2]), ..sample() }).unwrap());
    for bytes in &odd {
        assert!(decode_event(bytes).is_ok());
        assert!(decode_message(bytes).iter().all(Result::is_ok), "{bytes:?}");
    }
    let file: Vec<u8> = odd.concat();
    let out: Vec<_> = StreamDecoder::new(&file).collect();
    assert_eq!(out.len(), odd.len(), "{out:?}");
    assert!(out.iter().all(|(_, r)| r.is_ok()), "{out:?}");
    let batch = encode(&Value::Array(odd.iter().map(|b| rmpv::decode::read_value(&mut &b[..]).unwrap()).collect()));
    assert!(StreamDecoder::new(&batch).all(|(o, r)| o == 0 && r.is_ok()));
    // Each one after garbage, and a compact event with a boolean `code` (which
    // rmp-serde writes as such): the garbage is one error, the event is kept. (Not the
    // integer-keyed map: inside garbage only maps with text keys are taken for events.)
    odd.push(rmp_serde::to_vec(&QalarmEvent { code: json!(true), ..sample() }).unwrap());
    for (i, bytes) in odd.iter().enumerate().skip(1) {
        let mut file = vec![0xd6, 0, 0, 0, 0, 0];
        file.extend(bytes);
        let out: Vec<_> = StreamDecoder::new(&file).collect();
        assert_eq!(out.len(), 2, "{i}: {out:?}");
        assert!(out[0].1.is_err() && out[1].0 == 6 && out[1].1.is_ok(), "{i}: {out:?}");
    }
}

#[test]
fn time_forms() {
    let with_time = |t: Value| encode(&Value::Map(vec![("project".into(), "p".into()), ("time".into(), t)]));
    assert_eq!(decode_event(&with_time(1_700_000_000.into())).unwrap().time_ms, Some(1_700_000_000_000));
    assert_eq!(decode_event(&with_time(Value::F64(1_700_000_000.999_6))).unwrap().time_ms, Some(1_700_000_001_000));
    assert_eq!(decode_event(&with_time(Value::F32(1.5))).unwrap().time_ms, Some(1500));
    assert_eq!(decode_event(&with_time(" 1700000000 ".into())).unwrap().time_ms, Some(1_700_000_000_000));
    for bad in [
        Value::Nil,
        "soon".into(),
        Value::F64(f64::NAN),
        Value::F64(1e300),
        Value::from(u64::MAX),
        Value::from(i64::MAX),
        Value::from(true),
        Value::Array(vec![]),
    ] {
        let e = decode_event(&with_time(bad.clone())).unwrap_err();
        assert_eq!(e.reason, ErrorReason::Time, "{bad:?}");
    }
    let no_time = encode(&Value::Map(vec![("project".into(), "p".into())]));
    assert_eq!(decode_event(&no_time).unwrap_err().reason, ErrorReason::Time);
    let e = decode_event(&rmp_serde::to_vec_named(&QalarmEvent::default()).unwrap()).unwrap();
    assert_eq!(e.time_ms, Some(0), "time 0 is a time, not a missing one");
}

#[test]
fn value_renderings() {
    let v = Value::Map(vec![
        ("time".into(), 1.into()),
        ("code".into(), Value::F64(500.0)),
        ("env".into(), Value::Boolean(true)),
        ("module".into(), Value::F64(f64::INFINITY)),
        ("client_ip".into(), Value::Ext(3, vec![0xab, 0x01])),
        ("script".into(), Value::F32(0.1)),
        ("message".into(), Value::from(42)),
        ("project".into(), Value::from(-7)),
    ]);
    let ev = decode_event(&encode(&v)).unwrap();
    assert_eq!(field(&ev, "code"), Some(&FieldValue::Number { value: 500.0, text: "500.0".into() }));
    assert_eq!(text(&ev, "env").as_deref(), Some("true"));
    assert_eq!(field(&ev, "module"), Some(&FieldValue::Text("inf".into())));
    assert_eq!(text(&ev, "client_ip").as_deref(), Some(r#"{"ext":3,"data":"ab01"}"#));
    assert_eq!(text(&ev, "script").as_deref(), Some("0.1"));
    assert_eq!(field(&ev, "message"), Some(&FieldValue::Text("42".into())));
    assert_eq!(ev.text, "42");
    assert_eq!(field(&ev, "project"), Some(&FieldValue::Number { value: -7.0, text: "-7".into() }));
    let msg = Value::Map(vec![
        ("time".into(), 1.into()),
        (
            "message".into(),
            Value::Map(vec![
                (Value::from(1), "one".into()),
                (Value::Binary(vec![0xff]), "\"q\"\n".into()),
                ("f".into(), Value::F64(f64::NAN)),
            ]),
        ),
    ]);
    assert_eq!(decode_event(&encode(&msg)).unwrap().text, "{\"1\":\"one\",\"\u{fffd}\":\"\\\"q\\\"\\n\",\"f\":null}");
}

#[test]
fn not_events() {
    for v in
        [Value::from(1), Value::from("s"), Value::Nil, Value::Array(vec![1.into(), 2.into()]), Value::Array(vec![])]
    {
        let e = decode_event(&encode(&v)).unwrap_err();
        assert_eq!(e.reason, ErrorReason::Decode, "{v:?}");
    }
    let mut two = sample().to_msgpack();
    two.extend(sample().to_msgpack());
    assert_eq!(decode_event(&two).unwrap_err().reason, ErrorReason::Decode);
    assert_eq!(decode_event(&[]).unwrap_err().reason, ErrorReason::Decode);
    assert_eq!(decode_event(&[0xc1]).unwrap_err().reason, ErrorReason::Decode);
}

#[test]
fn messages_single_and_batches() {
    let one = decode_message(&sample().to_msgpack());
    assert_eq!(one.len(), 1);
    check_sample(one[0].as_ref().unwrap());

    let maps = Value::Array(vec![
        rmpv::decode::read_value(&mut &sample().to_msgpack()[..]).unwrap(),
        Value::Map(vec![("project".into(), "x".into())]),
        Value::from(3),
        rmpv::decode::read_value(&mut &rmp_serde::to_vec(&sample()).unwrap()[..]).unwrap(),
    ]);
    let out = decode_message(&encode(&maps));
    assert_eq!(out.len(), 4);
    check_sample(out[0].as_ref().unwrap());
    assert_eq!(out[1].as_ref().unwrap_err().reason, ErrorReason::Time);
    assert_eq!(out[2].as_ref().unwrap_err().reason, ErrorReason::Decode);
    check_sample(out[3].as_ref().unwrap());

    // A compact array is one event, not a batch.
    assert_eq!(decode_message(&rmp_serde::to_vec(&sample()).unwrap()).len(), 1);
    let empty = decode_message(&[]);
    assert_eq!(empty.len(), 1);
    assert_eq!(empty[0].as_ref().unwrap_err().reason, ErrorReason::Decode);
    assert_eq!(decode_message(&encode(&Value::Array(vec![]))).len(), 1);
    assert!(decode_message(b"\xc1garbage").iter().all(Result::is_err));
}

#[test]
fn stream_skips_garbage_between_good_events() {
    let good = sample().to_msgpack();
    let garbage = b"\xc1\xc1 not msgpack at all \x00\xff\xde\xad\xbe\xef\x91\x92";
    let mut file = good.clone();
    file.extend_from_slice(garbage);
    let second_at = file.len();
    file.extend(rmp_serde::to_vec(&sample()).unwrap());
    let out: Vec<_> = StreamDecoder::new(&file).collect();
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(out[0].0, 0);
    check_sample(out[0].1.as_ref().unwrap());
    assert_eq!(out[1].0, good.len());
    assert_eq!(out[1].1.as_ref().unwrap_err().reason, ErrorReason::Decode);
    assert!(out[1].1.as_ref().unwrap_err().detail.contains(&format!("skipped {} bytes", garbage.len())));
    assert_eq!(out[2].0, second_at);
    check_sample(out[2].1.as_ref().unwrap());
}

#[test]
fn stream_batches_carry_their_offset() {
    let batch = Value::Array(vec![
        rmpv::decode::read_value(&mut &sample().to_msgpack()[..]).unwrap(),
        rmpv::decode::read_value(&mut &sample().to_msgpack()[..]).unwrap(),
    ]);
    let mut file = sample().to_msgpack();
    let at = file.len();
    file.extend(encode(&batch));
    let offsets: Vec<_> = StreamDecoder::new(&file).map(|(o, r)| (o, r.is_ok())).collect();
    assert_eq!(offsets, [(0, true), (at, true), (at, true)]);
}

#[test]
fn truncated_input() {
    let mut file = sample().to_msgpack();
    let whole = file.len();
    file.extend(sample().to_msgpack());
    for cut in 1..file.len() {
        let out: Vec<_> = StreamDecoder::new(&file[..cut]).collect();
        if cut < whole {
            assert_eq!(out.len(), 1, "cut {cut}: {out:?}");
            assert!(out[0].1.is_err());
            assert!(decode_event(&file[..cut]).is_err());
        } else if cut == whole {
            assert_eq!(out.len(), 1);
            assert!(out[0].1.is_ok());
        } else {
            assert_eq!(out.len(), 2, "cut {cut}: {out:?}");
            assert!(out[0].1.is_ok() && out[1].1.is_err());
            assert_eq!(out[1].0, whole);
        }
    }
}

/// A truncated event followed by good ones (a producer killed mid-write, then
/// restarted, appending to the same file) must not swallow them: for every cut
/// point of the first event, in both encodings, the next two events decode at
/// their offsets and nothing else decodes.
#[test]
fn a_truncated_event_does_not_swallow_the_next_ones() {
    let second = QalarmEvent { project: "second".into(), code: json!(2), ..sample() };
    let third = QalarmEvent { project: "third".into(), code: json!(3), ..sample() };
    for compact in [false, true] {
        let encode = |e: &QalarmEvent| if compact { rmp_serde::to_vec(e).unwrap() } else { e.to_msgpack() };
        let first = encode(&sample());
        for cut in 1..first.len() {
            let mut file = first[..cut].to_vec();
            let second_at = file.len();
            file.extend(encode(&second));
            let third_at = file.len();
            file.extend(encode(&third));
            let out: Vec<_> = StreamDecoder::new(&file).collect();
            let good: Vec<(usize, String)> = out
                .iter()
                .filter_map(|(o, r)| r.as_ref().ok().map(|e| (*o, e.fields[0].as_ref().unwrap().text().to_owned())))
                .collect();
            assert_eq!(
                good,
                [(second_at, "second".to_string()), (third_at, "third".to_string())],
                "compact {compact}, cut {cut} of {}: {out:?}",
                first.len()
            );
            assert!(out.iter().any(|(o, r)| *o == 0 && r.is_err()), "cut {cut}: the cut event is reported");
        }
    }
}

#[test]
fn huge_declared_lengths_cost_nothing() {
    let cases: [&[u8]; 8] = [
        b"\xdd\xff\xff\xff\xff\x01",         // array32 of 4G elements
        b"\xdf\xff\xff\xff\xff\xa4time\x01", // map32 of 4G entries
        b"\xdb\xff\xff\xff\xffabc",          // str32 of 4 GiB
        b"\xc6\xff\xff\xff\xff",             // bin32
        b"\xc9\xff\xff\xff\xff\x01",         // ext32
        b"\x81\xa4time\xdd\xff\xff\xff\xff", // nested huge array
        b"\xdc\xff\xff\x81\xa4time",         // batch claiming 65535 events
        b"\x91\xdd\xff\xff\xff\xff",         // batch of a huge array
    ];
    for case in cases {
        assert!(decode_event(case).is_err(), "{case:?}");
        let out = decode_message(case);
        assert!(!out.is_empty() && out.iter().all(Result::is_err), "{case:?}: {out:?}");
        assert!(value_len(case, usize::MAX).is_err());
    }
    // Many items, each one byte: refused before rmpv builds them.
    let mut many = vec![0x82, 0xa4];
    many.extend(b"time");
    many.push(0x01);
    many.push(0xa7);
    many.extend(b"message");
    many.push(0xdd);
    many.extend(200_000u32.to_be_bytes());
    many.extend(std::iter::repeat_n(0xc0, 200_000));
    let e = decode_event(&many).unwrap_err();
    assert!(e.detail.contains("too many items"), "{e}");
    // Deep nesting is an error, not a stack overflow.
    let mut deep = vec![0x82, 0xa4];
    deep.extend(b"time");
    deep.push(0x01);
    deep.push(0xa7);
    deep.extend(b"message");
    deep.extend(std::iter::repeat_n(0x91, 50_000));
    deep.push(0x01);
    assert_eq!(decode_event(&deep).unwrap_err().reason, ErrorReason::Decode);
    let deep_batch: Vec<u8> = std::iter::repeat_n(0x91, 100_000).collect();
    assert!(StreamDecoder::new(&deep_batch).all(|(_, r)| r.is_err()));
}

#[test]
fn json_lines_for_produce() {
    let line = r#"{"project":"shop","module":"pay","code":500,"env":"prod","message":"支付失败: timeout ✗","time":1700000000.123,"server_ip":"10.0.0.7","client_ip":"1.2.3.4","script":"/srv/pay.php","extra":1}"#;
    let ev = QalarmEvent::from_json_line(line).unwrap();
    assert_eq!(ev, sample());
    check_sample(&decode_event(&ev.to_msgpack()).unwrap());
    let ev = QalarmEvent::from_json_line(r#"{"time":"1700000000","code":"E1","message":{"a":[1]},"env":7}"#).unwrap();
    assert_eq!(ev.time, 1_700_000_000.0);
    assert_eq!(ev.code, json!("E1"));
    assert_eq!(ev.env, "7");
    assert_eq!(ev.project, "");
    let decoded = decode_event(&ev.to_msgpack()).unwrap();
    assert_eq!(decoded.text, r#"{"a":[1]}"#);
    assert_eq!(field(&decoded, "code"), Some(&FieldValue::Text("E1".into())));
    assert_eq!(QalarmEvent::from_json_line(r#"{"project":"x"}"#).unwrap_err().reason, ErrorReason::Time);
    assert_eq!(QalarmEvent::from_json_line(r#"{"time":"later"}"#).unwrap_err().reason, ErrorReason::Time);
    assert_eq!(QalarmEvent::from_json_line("[1]").unwrap_err().reason, ErrorReason::Decode);
    assert_eq!(QalarmEvent::from_json_line("nope").unwrap_err().reason, ErrorReason::Decode);
}

fn arb_event() -> impl Strategy<Value = QalarmEvent> {
    (
        "[a-z]{0,8}",
        "\\PC{0,12}",
        prop_oneof![any::<i32>().prop_map(|c| json!(c)), "[A-Z0-9]{1,4}".prop_map(|c| json!(c))],
        0u32..2_000_000_000,
        0u32..1000,
    )
        .prop_map(|(project, message, code, secs, ms)| QalarmEvent {
            project,
            module: "m".into(),
            code,
            env: "prod".into(),
            message: json!(message),
            time: f64::from(secs) + f64::from(ms) / 1000.0,
            server_ip: "10.1.1.1".into(),
            client_ip: String::new(),
            script: String::new(),
        })
}

/// Garbage that can never start an array or a map, so it cannot swallow a good event.
fn arb_garbage() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        any::<u8>().prop_filter("no container markers", |b| !matches!(b, 0x80..=0x9f | 0xdc..=0xdf)),
        0..40,
    )
}

#[test]
fn nested_map_keys_stay_linear() {
    // {"time": 1700000000, "message": {{...{nil: nil}...: nil}: nil}}, 32 levels
    // (fuzzing found it: each level used to re-escape the rendered level inside).
    let mut bytes = vec![0x82, 0xa4, b't', b'i', b'm', b'e', 0xce, 0x65, 0x53, 0xf1, 0x00, 0xa7];
    bytes.extend_from_slice(b"message");
    bytes.extend(std::iter::repeat_n(0x81, 32));
    bytes.extend(std::iter::repeat_n(0xc0, 33));
    let started = std::time::Instant::now();
    let event = decode_event(&bytes).expect("an event with a strange message");
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert!(event.text.len() < 1000, "{}", event.text.len());
    assert!(event.text.starts_with("{\"<map>\":"), "{}", event.text);
}

proptest! {
    #[test]
    fn stream_never_panics_and_always_ends(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut last = None;
        let mut count = 0usize;
        for (offset, _) in StreamDecoder::new(&bytes) {
            prop_assert!(offset < bytes.len());
            if let Some(prev) = last {
                prop_assert!(offset >= prev);
            }
            last = Some(offset);
            count += 1;
            prop_assert!(count <= bytes.len() * 64 + 1);
        }
        let _ = decode_event(&bytes);
        let _ = decode_message(&bytes);
    }

    #[test]
    fn good_events_survive_garbage(
        parts in proptest::collection::vec((arb_event(), any::<bool>(), arb_garbage()), 1..8),
    ) {
        let mut file = Vec::new();
        let mut expected = Vec::new();
        let mut errors = 0;
        for (ev, compact, garbage) in &parts {
            expected.push((file.len(), ev.clone()));
            file.extend(if *compact { rmp_serde::to_vec(ev).unwrap() } else { ev.to_msgpack() });
            if !garbage.is_empty() {
                errors += 1;
            }
            file.extend(garbage);
        }
        let out: Vec<_> = StreamDecoder::new(&file).collect();
        let good: Vec<_> = out.iter().filter_map(|(o, r)| r.as_ref().ok().map(|e| (*o, e))).collect();
        prop_assert_eq!(good.len(), expected.len());
        prop_assert_eq!(out.len() - good.len(), errors);
        for ((offset, ev), (want_offset, want)) in good.iter().zip(&expected) {
            prop_assert_eq!(offset, want_offset);
            prop_assert_eq!(ev.time_ms, seconds_f64_to_ms(want.time));
            prop_assert_eq!(ev.text.as_ref(), want.message.as_str().unwrap());
            prop_assert_eq!(ev.fields[0].as_ref().map(|f| f.text().to_owned()), Some(want.project.clone()));
        }
    }
}

/// Every scalar `code` rmp-serde writes for a [`QalarmEvent`] keeps a compact event in
/// an SDK's shape; a container `code` does not (it still decodes, see
/// `odd_shaped_events_still_decode_in_streams_and_messages`).
#[test]
fn rmp_serde_compact_events_have_an_sdk_shape() {
    for code in [json!(500), json!(-3), json!(2.5), json!("E42"), json!(null), json!(true), json!(false)] {
        let bytes = rmp_serde::to_vec(&QalarmEvent { code: code.clone(), ..sample() }).unwrap();
        assert!(has_sdk_shape(&bytes), "{code}");
    }
    let bytes = rmp_serde::to_vec(&QalarmEvent { code: json!([1, 2]), ..sample() }).unwrap();
    assert!(!has_sdk_shape(&bytes));
}

/// A good compact event whose `message` bytes hold what measures as a compact event or
/// a batch, followed by garbage that such a made-up event can run on into: the good
/// event is kept and the garbage reported, not the good event dropped for a made-up
/// one (found by `good_events_survive_garbage`).
#[test]
fn a_message_that_looks_like_an_event_is_not_a_resync_point() {
    for message in ["𑙡𑶓A®aa0a", "𑙢𑶓A®aa0a"] {
        let ev = QalarmEvent {
            module: "m".into(),
            code: serde_json::json!(0),
            env: "prod".into(),
            message: serde_json::json!(message),
            server_ip: "10.1.1.1".into(),
            ..Default::default()
        };
        let mut bytes = rmp_serde::to_vec(&ev).unwrap();
        let garbage_at = bytes.len();
        bytes.extend([0xd6, 0, 0, 0, 0, 0]);
        let out: Vec<_> = StreamDecoder::new(&bytes).collect();
        assert_eq!(out.len(), 2, "{message}: {out:?}");
        assert_eq!(out[0].0, 0);
        assert_eq!(out[0].1.as_ref().unwrap().text, message);
        assert_eq!(out[1].0, garbage_at);
        assert!(out[1].1.is_err());
    }
}
