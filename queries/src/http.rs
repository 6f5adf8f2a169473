//! The worker's HTTP API (DESIGN.md, "HTTP API"), as an axum [`Router`].
//!
//! - `GET /healthz`: 200 once the sources are connected, else 503;
//! - `GET /metrics`: Prometheus/OpenMetrics text;
//! - `POST /api/sql`: the body is one read-only statement; JSON rows by default,
//!   `?format=csv`, `?format=json` or `?format=arrow` (an Arrow IPC stream);
//! - `GET /api/rules`: the rule set in force (and the last failed reload's error);
//! - `GET /api/alerts[?state=firing|pending]`: alert series;
//! - `POST /api/reload`: reload the rule files now (200 with the new version, or 400
//!   with the error in `path:line:col` form; the old rules stay);
//! - `GET /api/series?rule=..&view=machine|sum|avg&metric=..&from=..&to=..[&top=..][&host=..][&key=..]`:
//!   one rule's results as chart series ([`crate::series`]);
//! - `GET /` and `GET /assets/*`: the page that charts them (`web/`), served without
//!   a token: it holds no data, and asks for the token the API calls need.
//!
//! Invariants:
//! - every error is a JSON body `{"error": kind, "message": text}` with the status
//!   that [`QueryError::http_status`] (or the route) gives; nothing answers with a
//!   bare 500 page;
//! - with a token configured, every route but `/healthz` requires
//!   `Authorization: Bearer <token>` (a load balancer's health probe carries none);
//! - a query runs under the [`QueryService`]'s time, memory and concurrency limits,
//!   so no statement can take the worker down.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::error::error_response;
use crate::output::{self, Format};
use crate::service::QueryService;

/// What the worker tells the API about itself; the API knows no Kafka and no engine.
pub trait WorkerStatus: Send + Sync + 'static {
    /// `Ok` once every source is connected; else why not yet.
    fn health(&self) -> Result<(), String>;
    /// The metrics in Prometheus text exposition (OpenMetrics) format.
    fn metrics_text(&self) -> String;
    /// The rule set in force, with its version.
    fn rules(&self) -> serde_json::Value;
    /// Alert series firing or pending (`state` = `firing` or `pending` keeps one kind).
    fn alerts(&self, state: Option<&str>) -> serde_json::Value {
        let _ = state;
        serde_json::json!({ "alerts": [] })
    }
    /// Reloads the rule files now (blocking: it compiles them). `Ok` carries what
    /// `/api/rules` shows after it; `Err` the error, with the old rules still in force.
    fn reload(&self) -> Result<serde_json::Value, String> {
        Err("this server does not reload rules".to_string())
    }
}

/// Everything a request handler needs.
#[derive(Clone)]
struct ApiState {
    queries: Arc<QueryService>,
    status: Arc<dyn WorkerStatus>,
    /// `Bearer <token>`, precomputed; `None` lets every request in.
    expected_authorization: Option<Arc<str>>,
}

/// The routes, ready to serve.
pub fn router(queries: Arc<QueryService>, status: Arc<dyn WorkerStatus>, token: Option<&str>) -> Router {
    let state = ApiState { queries, status, expected_authorization: token.map(|t| format!("Bearer {t}").into()) };
    let protected = Router::new()
        .route("/metrics", get(metrics))
        .route("/api/sql", post(sql))
        .route("/api/rules", get(rules))
        .route("/api/alerts", get(alerts))
        .route("/api/reload", post(reload))
        .route("/api/series", get(series))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/", get(crate::page::index))
        .route("/assets/{*path}", get(crate::page::asset))
        .merge(protected)
        .fallback(not_found)
        .with_state(state)
}

async fn require_token(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    if let Some(expected) = &state.expected_authorization {
        let given = request.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
        // Constant-time comparison: the token must not leak through response timing.
        let ok = given.is_some_and(|g| constant_time_eq(g, expected.as_bytes()));
        if !ok {
            let mut response =
                error_response(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required");
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    next.run(request).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn healthz(State(state): State<ApiState>) -> Response {
    match state.status.health() {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], r#"{"status":"ok"}"#).into_response(),
        Err(why) => error_response(StatusCode::SERVICE_UNAVAILABLE, "starting", why),
    }
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], state.status.metrics_text()).into_response()
}

async fn rules(State(state): State<ApiState>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], state.status.rules().to_string()).into_response()
}

async fn reload(State(state): State<ApiState>) -> Response {
    let status = Arc::clone(&state.status);
    match tokio::task::spawn_blocking(move || status.reload()).await {
        Ok(Ok(rules)) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], rules.to_string()).into_response()
        }
        Ok(Err(message)) => error_response(StatusCode::BAD_REQUEST, "rules", message),
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertParams {
    /// `firing` or `pending`; both when absent.
    state: Option<String>,
}

async fn alerts(State(state): State<ApiState>, Query(params): Query<AlertParams>) -> Response {
    match params.state.as_deref() {
        None | Some("firing" | "pending") => {}
        Some(other) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("state '{other}' is not firing or pending"),
            );
        }
    }
    // The worker's alert state sits behind a lock its lanes take while they flush
    // (which may write Parquet): wait for it off the async threads.
    let status = Arc::clone(&state.status);
    let answer = tokio::task::spawn_blocking(move || status.alerts(params.state.as_deref()).to_string()).await;
    match answer {
        Ok(body) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeriesParams {
    rule: String,
    /// `machine` (default), `sum` or `avg`.
    view: Option<String>,
    /// `count` (default), `sum`, `avg`, `min` or `max`.
    metric: Option<String>,
    /// Epoch milliseconds or RFC 3339; default: an hour before `to`.
    from: Option<String>,
    /// Epoch milliseconds or RFC 3339; default: now.
    to: Option<String>,
    /// The machine view's number of hosts; default 10.
    top: Option<usize>,
    host: Option<String>,
    key: Option<String>,
}

/// Epoch milliseconds, or an RFC 3339 time.
fn parse_time(name: &str, text: &str) -> Result<i64, String> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    datafusion::arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(text)
        .map(|ns| ns.div_euclid(1_000_000))
        .map_err(|_| format!("{name} '{text}' is neither epoch milliseconds nor an RFC 3339 time"))
}

fn series_request(params: SeriesParams) -> Result<crate::series::SeriesRequest, String> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let to_ms = params.to.as_deref().map(|t| parse_time("to", t)).transpose()?.unwrap_or(now_ms);
    let from_ms = params.from.as_deref().map(|t| parse_time("from", t)).transpose()?.unwrap_or(to_ms - 3_600_000);
    let request = crate::series::SeriesRequest {
        rule: params.rule,
        view: params.view.as_deref().unwrap_or("machine").parse()?,
        metric: params.metric.as_deref().unwrap_or("count").parse()?,
        from_ms,
        to_ms,
        top: params.top.unwrap_or(10),
        host: params.host.filter(|h| !h.is_empty()),
        key: params.key.filter(|k| !k.is_empty()),
    };
    request.validate()?;
    Ok(request)
}

async fn series(State(state): State<ApiState>, params: Result<Query<SeriesParams>, QueryRejection>) -> Response {
    let request = match params.map_err(|e| e.body_text()).and_then(|Query(p)| series_request(p)) {
        Ok(request) => request,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, "bad_request", message),
    };
    let answer = match state.queries.series(&request).await {
        Ok(answer) => answer,
        Err(e) => return e.into_response(),
    };
    let Ok(mut body) = serde_json::to_value(&answer) else {
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, "encoding", "the series did not encode");
    };
    // The rule's window grid as it is in force (null for a rule no longer loaded), so
    // that a chart can label its axis ("per 1m window").
    let rules = state.status.rules();
    let rule = rules["rules"].as_array().and_then(|r| r.iter().find(|r| r["name"] == request.rule.as_str()));
    for field in ["window_ms", "slide_ms"] {
        body[field] = rule.map_or(serde_json::Value::Null, |r| r[field].clone());
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlParams {
    /// `json` (default), `csv` or `arrow`.
    format: Option<String>,
}

async fn sql(
    State(state): State<ApiState>,
    Query(params): Query<SqlParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let format = params.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "csv" | "arrow") {
        return error_response(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("unknown format '{format}' (json, csv, arrow)"),
        );
    }
    let Ok(statement) = std::str::from_utf8(&body) else {
        return error_response(StatusCode::BAD_REQUEST, "bad_request", "the body must be SQL text in UTF-8");
    };
    // A JSON body `{"sql": "..."}` is accepted too, for clients that only send JSON.
    let is_json = headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let statement = if is_json {
        match serde_json::from_str::<serde_json::Value>(statement)
            .ok()
            .and_then(|v| v.get("sql")?.as_str().map(String::from))
        {
            Some(s) => s,
            None => {
                return error_response(StatusCode::BAD_REQUEST, "bad_request", r#"a JSON body must be {"sql": "..."}"#);
            }
        }
    } else {
        statement.to_string()
    };
    if statement.trim().is_empty() {
        return error_response(StatusCode::BAD_REQUEST, "bad_request", "the body holds no SQL");
    }
    let result = match state.queries.sql(&statement).await {
        Ok(result) => result,
        Err(e) => {
            if !e.is_user_error() {
                tracing::warn!(error = %e, "query failed");
            }
            return e.into_response();
        }
    };
    let (bytes, content_type) = match format {
        "arrow" => (arrow_ipc(&result), "application/vnd.apache.arrow.stream"),
        "csv" => (text(&result, Format::Csv), "text/csv; charset=utf-8"),
        _ => (text(&result, Format::Json), "application/json"),
    };
    match bytes {
        Ok(bytes) => (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "encoding", e.to_string()),
    }
}

fn text(result: &crate::service::QueryResult, format: Format) -> Result<Vec<u8>, datafusion::arrow::error::ArrowError> {
    let mut out = Vec::new();
    output::write(result, format, &mut out)?;
    Ok(out)
}

fn arrow_ipc(result: &crate::service::QueryResult) -> Result<Vec<u8>, datafusion::arrow::error::ArrowError> {
    let mut out = Vec::new();
    let mut writer = datafusion::arrow::ipc::writer::StreamWriter::try_new(&mut out, &result.schema)?;
    for batch in &result.batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    drop(writer);
    Ok(out)
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such route")
}
