//! The web inbox (`web/`, built by `just web` into `web/dist`), served at `/`: hashed files
//! under `/assets/` cached for good, every other path that is not the API answered with
//! `index.html` so the app's own routes (`/settings`, `/c/<id>`) survive a reload. In a release
//! build the files are embedded in the binary; in a debug build they are read from disk, so a
//! rebuilt app is served without rebuilding the gateway. A gateway built before the app answers
//! `/` with a page saying how to build it.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::RustEmbed)]
#[folder = "../../web/dist"]
#[allow_missing = true]
struct WebApp;

/// The page's policy: scripts, styles and connections to this origin only (the API and its
/// WebSocket live here), media and images from here or the browser's own blobs.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; worker-src 'self'; \
     manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// The app's routes: a fallback for whatever the API does not answer.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().fallback(serve)
}

async fn serve(method: Method, uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    // Unknown API paths stay API errors, never the app's page.
    if path == "v1" || path.starts_with("v1/") || path.starts_with("webhooks/") {
        let error = inbox_errors::PublicError::not_found(format!("no route {}", uri.path()));
        return inbox_service::http_edge::ApiError(error).into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    match WebApp::get(path).filter(|_| !path.is_empty()) {
        Some(file) => {
            let cache = if path.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
            respond(file, path, cache)
        }
        // A file-like path that does not exist is a 404, not the app.
        None if path.starts_with("assets/") => StatusCode::NOT_FOUND.into_response(),
        None => match WebApp::get("index.html") {
            Some(index) => respond(index, "index.html", "no-cache"),
            None => not_built(),
        },
    }
}

fn respond(file: rust_embed::EmbeddedFile, path: &str, cache: &'static str) -> Response {
    let mime = file.metadata.mimetype().to_owned();
    let mut response = Response::new(Body::from(file.data.into_owned()));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if path.ends_with(".html") {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

fn not_built() -> Response {
    let page = "<!doctype html><title>Inbox</title><p>The web inbox is not built: run <code>just web</code> \
                (or <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>) and reload.</p>";
    (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;

    use super::*;

    async fn get(path: &str) -> Response {
        serve(Method::GET, path.parse().unwrap()).await
    }

    #[tokio::test]
    async fn unknown_api_paths_stay_json_errors() {
        let response = get("/v1/nothing-here").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body = to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "not_found");
    }

    #[tokio::test]
    async fn app_routes_get_the_page_or_a_note_on_building_it_and_missing_assets_are_404() {
        let response = get("/settings/templates").await;
        if WebApp::get("index.html").is_some() {
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()[header::CONTENT_TYPE], "text/html");
            assert!(
                response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("default-src 'self'")
            );
        } else {
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        }
        assert_eq!(get("/assets/missing-0000.js").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(serve(Method::POST, "/".parse().unwrap()).await.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
