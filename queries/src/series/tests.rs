use super::*;

fn request(view: View, metric: Metric) -> SeriesRequest {
    SeriesRequest {
        rule: "it's".into(),
        view,
        metric,
        from_ms: 0,
        to_ms: 60_000,
        top: 3,
        host: Some("web'1".into()),
        key: None,
    }
}

#[test]
fn user_strings_are_quoted_literals() {
    let sql = request(View::Sum, Metric::Count).sql();
    assert!(sql.contains("rule = 'it''s'"), "{sql}");
    assert!(sql.contains("host = 'web''1'"), "{sql}");
}

#[test]
fn a_request_out_of_bounds_is_refused() {
    let mut r = request(View::Machine, Metric::Avg);
    assert!(r.validate().is_ok());
    r.top = 0;
    assert!(r.validate().unwrap_err().contains("top"));
    r.top = 1;
    r.to_ms = r.from_ms;
    assert!(r.validate().unwrap_err().contains("before"));
}
