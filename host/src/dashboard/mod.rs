//! The farm dashboard: one page, its script and its style, embedded in the binary at build time
//! (no build step, no CDN: it works with no internet) and served by the host at `/` and under
//! [`DASHBOARD_PREFIX`](crate::DASHBOARD_PREFIX), which no plugin may claim.
//!
//! The page logs in through `POST /farm/api/login` (a session cookie and a CSRF token), reads
//! the farm through the host API and stays live on `GET /farm/api/events`. It shows a viewer no
//! control the server would refuse.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The page.
const INDEX: &str = include_str!("assets/index.html");
/// Its script.
const SCRIPT: &str = include_str!("assets/app.js");
/// Its style.
const STYLE: &str = include_str!("assets/app.css");

/// What the page may load and talk to: itself only (no inline script, no other origin), so an
/// injected file name or printer name cannot run code.
const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; \
                   script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/// The dashboard's routes, for the main listener.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| async { asset(INDEX, "text/html; charset=utf-8") }),
        )
        .route(
            &format!("{}/app.js", crate::DASHBOARD_PREFIX),
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            &format!("{}/app.css", crate::DASHBOARD_PREFIX),
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Revalidated on every load: a new release's page never runs an old script.
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The bytes the page costs a browser on its first load, uncompressed.
pub fn transferred_bytes() -> usize {
    INDEX.len() + SCRIPT.len() + STYLE.len()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_loads_its_own_script_and_style_only() {
        assert!(
            super::INDEX.contains("/dashboard/app.js")
                && super::INDEX.contains("/dashboard/app.css")
        );
        assert!(
            !super::INDEX.contains("<script>"),
            "no inline script: the CSP forbids it"
        );
        assert!(
            super::transferred_bytes() < 64 * 1024,
            "{}",
            super::transferred_bytes()
        );
    }
}
