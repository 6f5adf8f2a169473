use super::*;

const COMBINED: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;
const DESIGN: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time"#;

fn field<'e>(fmt: &LogFormat, ev: &'e Event<'_>, name: &str) -> Option<&'e FieldValue<'e>> {
    let i = fmt.field_names().iter().position(|n| n == name).expect("no such field");
    ev.fields[i].as_ref()
}

fn num(v: Option<&FieldValue<'_>>) -> f64 {
    match v {
        Some(FieldValue::Number { value, .. }) => *value,
        other => panic!("not a number: {other:?}"),
    }
}

/// 10/Oct/2000:13:55:36 -0700 in unix ms.
const OCT_10_2000: i64 = 971_211_336_000;

#[test]
fn combined_format() {
    let f = LogFormat::compile(COMBINED).unwrap();
    assert_eq!(
        f.field_names(),
        [
            "remote_addr",
            "remote_user",
            "time_local",
            "request",
            "status",
            "body_bytes_sent",
            "http_referer",
            "http_user_agent"
        ]
    );
    let line = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
    let ev = f.parse(line).unwrap();
    assert_eq!(ev.time_ms, Some(OCT_10_2000));
    assert_eq!(ev.host, None);
    assert_eq!(ev.text, line);
    assert_eq!(field(&f, &ev, "remote_addr").unwrap().text(), "127.0.0.1");
    assert_eq!(field(&f, &ev, "remote_user").unwrap().text(), "frank");
    assert_eq!(field(&f, &ev, "request").unwrap().text(), "GET /apache_pb.gif HTTP/1.0");
    assert_eq!(field(&f, &ev, "status"), Some(&FieldValue::Number { value: 200.0, text: "200".into() }));
    assert_eq!(num(field(&f, &ev, "body_bytes_sent")), 2326.0);
    assert_eq!(field(&f, &ev, "http_referer").unwrap().text(), "http://www.example.com/start.html");
    assert_eq!(field(&f, &ev, "http_user_agent").unwrap().text(), "Mozilla/4.08 [en] (Win98; I ;Nav)");
    assert_eq!(field(&f, &ev, "time_local").unwrap().text(), "10/Oct/2000:13:55:36 -0700");
    // Values borrow from the line.
    assert!(ev.fields.iter().flatten().all(|v| match v {
        FieldValue::Text(t) | FieldValue::Number { text: t, .. } => matches!(t, Cow::Borrowed(_)),
    }));
}

#[test]
fn design_format_with_upstream_list_and_dashes() {
    let f = LogFormat::compile(DESIGN).unwrap();
    let line = "10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"POST /api/v1/items?id=1 HTTP/1.1\" 502 157 \"-\" \"-\" 0.042 0.010, 0.020 : 0.005\r\n";
    let ev = f.parse(line).unwrap();
    assert_eq!(field(&f, &ev, "remote_user"), None);
    assert_eq!(field(&f, &ev, "http_referer"), None);
    assert_eq!(field(&f, &ev, "http_user_agent"), None);
    assert_eq!(field(&f, &ev, "request").unwrap().text(), "POST /api/v1/items?id=1 HTTP/1.1");
    assert_eq!(num(field(&f, &ev, "status")), 502.0);
    assert_eq!(num(field(&f, &ev, "request_time")), 0.042);
    let up = field(&f, &ev, "upstream_response_time").unwrap();
    assert!((num(Some(up)) - 0.035).abs() < 1e-12);
    assert_eq!(up.text(), "0.010, 0.020 : 0.005");

    let line = "10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 499 0 \"-\" \"curl/8\" 0.001 -";
    let ev = f.parse(line).unwrap();
    assert_eq!(field(&f, &ev, "upstream_response_time"), None);
    assert_eq!(num(field(&f, &ev, "body_bytes_sent")), 0.0);
}

#[test]
fn upstream_status_keeps_last_and_bad_numbers_stay_text() {
    let f =
        LogFormat::compile("$status $upstream_status $request_time|$upstream_connect_time|$body_bytes_sent").unwrap();
    let ev = f.parse("200 502, 504 : 200 abc|-, -|12x").unwrap();
    assert_eq!(num(field(&f, &ev, "upstream_status")), 200.0);
    assert_eq!(field(&f, &ev, "upstream_status").unwrap().text(), "502, 504 : 200");
    assert_eq!(field(&f, &ev, "request_time"), Some(&FieldValue::Text("abc".into())));
    assert_eq!(field(&f, &ev, "upstream_connect_time"), None);
    assert_eq!(field(&f, &ev, "body_bytes_sent"), Some(&FieldValue::Text("12x".into())));
    let ev = f.parse("200 502, - : 504 0.1|0.5, x|inf").unwrap();
    assert_eq!(num(field(&f, &ev, "upstream_status")), 504.0);
    assert_eq!(field(&f, &ev, "upstream_status").unwrap().text(), "502, - : 504");
    assert_eq!(field(&f, &ev, "upstream_connect_time"), Some(&FieldValue::Text("0.5, x".into())));
    assert_eq!(field(&f, &ev, "body_bytes_sent"), Some(&FieldValue::Text("inf".into())));
    assert_eq!(field(&f, &ev, "status").unwrap().text(), "200");
    // A list in the middle of a space-separated format, in nginx's own spacing.
    let f = LogFormat::compile("$upstream_response_time $upstream_status $status").unwrap();
    let ev = f.parse("0.010, 0.020 : 0.005 502, 200 : 404 404").unwrap();
    assert!((num(field(&f, &ev, "upstream_response_time")) - 0.035).abs() < 1e-12);
    assert_eq!(field(&f, &ev, "upstream_status").unwrap().text(), "502, 200 : 404");
    assert_eq!(num(field(&f, &ev, "status")), 404.0);
    let f2 = LogFormat::compile("$upstream_addr $status").unwrap();
    let ev2 = f2.parse("10.0.0.1:80, 10.0.0.2:80 : unix:/run/app.sock 502").unwrap();
    assert_eq!(ev2.fields[0].as_ref().unwrap().text(), "10.0.0.1:80, 10.0.0.2:80 : unix:/run/app.sock");
    assert_eq!(ev2.fields[1].as_ref().and_then(FieldValue::as_f64), Some(502.0));
    let ev = f.parse("- - 200").unwrap();
    assert_eq!(field(&f, &ev, "upstream_response_time"), None);
    assert_eq!(field(&f, &ev, "upstream_status"), None);
    assert_eq!(num(field(&f, &ev, "status")), 200.0);
}

#[test]
fn request_with_spaces_and_quotes_elsewhere() {
    let f = LogFormat::compile(r#""$request" $status "$http_user_agent""#).unwrap();
    let ev =
        f.parse(r#""GET /a b c?q=x y HTTP/1.1" 404 "Mozilla/5.0 (X11; Linux x86_64) like \x22Gecko\x22""#).unwrap();
    assert_eq!(field(&f, &ev, "request").unwrap().text(), "GET /a b c?q=x y HTTP/1.1");
    assert_eq!(num(field(&f, &ev, "status")), 404.0);
    assert_eq!(
        field(&f, &ev, "http_user_agent").unwrap().text(),
        r"Mozilla/5.0 (X11; Linux x86_64) like \x22Gecko\x22"
    );
}

#[test]
fn lines_that_do_not_fit() {
    let f = LogFormat::compile(COMBINED).unwrap();
    for line in [
        "",
        "garbage",
        r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326 "-""#,
        r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326 "-" "ua" extra"#,
    ] {
        assert_eq!(f.parse(line).unwrap_err().reason, ErrorReason::Parse, "{line}");
    }
    let bad_time = r#"127.0.0.1 - frank [10/Oct/2000:25:55:36 -0700] "GET / HTTP/1.0" 200 2326 "-" "ua""#;
    assert_eq!(f.parse(bad_time).unwrap_err().reason, ErrorReason::Time);
    let no_time = r#"127.0.0.1 - frank [-] "GET / HTTP/1.0" 200 2326 "-" "ua""#;
    assert_eq!(f.parse(no_time).unwrap_err().reason, ErrorReason::Time);
    // The leading literal must be there.
    let f = LogFormat::compile("[$time_local] $status").unwrap();
    assert_eq!(f.parse("10/Oct/2000:13:55:36 -0700] 200").unwrap_err().reason, ErrorReason::Parse);
    assert_eq!(f.parse("[10/Oct/2000:13:55:36 -0700] 200  \t\r").unwrap().time_ms, Some(OCT_10_2000));
}

#[test]
fn time_variables() {
    let f = LogFormat::compile("$time_iso8601 $status").unwrap();
    assert_eq!(f.parse("2000-10-10T13:55:36-07:00 200").unwrap().time_ms, Some(OCT_10_2000));
    assert_eq!(f.parse("2000-10-10 200").unwrap_err().reason, ErrorReason::Time);
    let f = LogFormat::compile("$msec $status").unwrap();
    let ev = f.parse("1700000000.123 200").unwrap();
    assert_eq!(ev.time_ms, Some(1_700_000_000_123));
    assert_eq!(num(field(&f, &ev, "msec")), 1_700_000_000.123);
    // time_local wins over msec, wherever it is.
    let f = LogFormat::compile("$msec [$time_local]").unwrap();
    assert_eq!(f.parse("1.000 [10/Oct/2000:13:55:36 -0700]").unwrap().time_ms, Some(OCT_10_2000));
    // No time variable: the transport's time.
    let f = LogFormat::compile("$status").unwrap();
    assert_eq!(f.parse("200").unwrap().time_ms, None);
    for t in [
        "10/Oct/2000:13:55:36 +0000",
        "10/Xyz/2000:13:55:36 -0700",
        "31/Feb/2000:13:55:36 -0700",
        "10/Oct/2000:13:55:36 -0799",
        "10/Oct/2000:13:55:36 x0700",
        "10/Oct/2000T13:55:36 -0700",
    ] {
        let expect_ok = t.starts_with("10/Oct/2000:13:55:36 +");
        assert_eq!(parse_time_local(t).is_some(), expect_ok, "{t}");
    }
    assert_eq!(
        parse_time_local("10/Oct/2000:13:55:36 +0530"),
        Some(OCT_10_2000 - 7 * 3_600_000 - 5 * 3_600_000 - 1_800_000)
    );
}

#[test]
fn braces_duplicates_and_last_variable_rest_of_line() {
    let f = LogFormat::compile("${status}x $status ${request_uri}").unwrap();
    assert_eq!(f.field_names(), ["status", "request_uri"]);
    let ev = f.parse("200x 201 /a b c").unwrap();
    assert_eq!(num(field(&f, &ev, "status")), 200.0);
    assert_eq!(field(&f, &ev, "request_uri").unwrap().text(), "/a b c");
    // Unicode literals and values.
    let f = LogFormat::compile("→$a←$b").unwrap();
    let ev = f.parse("→héllo←wörld").unwrap();
    assert_eq!(ev.fields[0].as_ref().unwrap().text(), "héllo");
    assert_eq!(ev.fields[1].as_ref().unwrap().text(), "wörld");
}

#[test]
fn format_errors() {
    let e = |f: &str| LogFormat::compile(f).unwrap_err();
    assert_eq!(e("").offset, 0);
    assert_eq!(e("   ").offset, 0);
    assert_eq!(e("just text").offset, 0);
    assert_eq!(e("$a$b").offset, 2);
    assert_eq!(e("$a ${b}${c}").offset, 7);
    assert_eq!(e("abc $").offset, 4);
    assert_eq!(e("abc $ x").offset, 4);
    assert_eq!(e("x ${status").offset, 2);
    assert_eq!(e("x ${}").offset, 2);
    assert_eq!(e("x ${st-atus}").offset, 6);
    assert_eq!(
        e("$a$b").to_string(),
        "log_format at byte 2: $b directly follows another variable; nothing tells where one ends"
    );
}

proptest::proptest! {
    #[test]
    fn parse_never_panics(line in "\\PC{0,200}", raw in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let f = LogFormat::compile(DESIGN).unwrap();
        let _ = f.parse(&line);
        let lossy = String::from_utf8_lossy(&raw);
        let _ = f.parse(&lossy);
        let g = LogFormat::compile("$msec→$upstream_status,$upstream_response_time:$a").unwrap();
        let _ = g.parse(&line);
        let _ = g.parse(&lossy);
    }

    #[test]
    fn compile_never_panics(format in "[$a-z{} \"\\[\\]→]{0,40}", line in "[a-z0-9 \"\\[\\]→.,:-]{0,60}") {
        if let Ok(f) = LogFormat::compile(&format) {
            let _ = f.parse(&line);
        }
    }

    #[test]
    fn generated_lines_round_trip(
        vals in proptest::collection::vec("[a-zA-Z0-9 ./?=]{1,20}", 3),
        status in 100u32..600,
    ) {
        let f = LogFormat::compile(r#"$remote_addr "$request" $status "$http_user_agent""#).unwrap();
        let addr = vals[0].replace(' ', "_");
        let line = format!("{addr} \"{}\" {status} \"{}\"", vals[1], vals[2]);
        let ev = f.parse(&line).unwrap();
        proptest::prop_assert_eq!(ev.fields[0].as_ref().unwrap().text(), addr.as_str());
        proptest::prop_assert_eq!(ev.fields[1].as_ref().unwrap().text(), vals[1].as_str());
        proptest::prop_assert_eq!(ev.fields[2].as_ref().unwrap().as_f64(), Some(f64::from(status)));
        proptest::prop_assert_eq!(ev.fields[3].as_ref().unwrap().text(), vals[2].as_str());
    }
}
