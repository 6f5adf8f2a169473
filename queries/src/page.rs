//! The page at `/` (DESIGN.md: "the views as charts"): `web/dist`, built from
//! `web/src` by `npm ci && npm run build` and checked in, embedded in the binary at
//! build time, so a worker serves it offline, with nothing loaded from elsewhere.
//!
//! The page holds no data: it reads the same API as any client, with the same token.
//! So it is served without one, and a `Content-Security-Policy` keeps it to this origin.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::error_response;

#[derive(rust_embed::RustEmbed)]
#[folder = "../web/dist/"]
struct Assets;

/// The page may load and call only its own origin; styles may be set inline (uPlot
/// positions its legend and cursor with style attributes).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&format!("assets/{path}"), &headers)
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return error_response(StatusCode::NOT_FOUND, "not_found", format!("no such file: /{path}"));
    };
    // The content's hash: the page is revalidated on each load (it changes with the
    // binary, under the same names) and costs a 304 when it did not.
    let etag: String = file.metadata.sha256_hash().iter().map(|b| format!("{b:02x}")).collect();
    let etag = format!("\"{etag}\"");
    let mut response = if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, file.data.into_owned()).into_response()
    };
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    out.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, etag);
    }
    response
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}
