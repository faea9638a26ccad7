//! The host API under [`HOST_PREFIX`](crate::HOST_PREFIX): JSON, authenticated by API key,
//! described by the OpenAPI document it serves at `/farm/api/openapi.json`.
//!
//! Every route needs a valid key (`X-Api-Key` or `Authorization: Bearer`) except the health probe
//! and the OpenAPI document; without one the answer is 401. Viewers may read; changes need an
//! operator (403 otherwise); users are managed by admins.
//!
//! - [`auth`]: who is calling, and what their role allows.
//! - [`error`]: JSON errors, and how core errors map to statuses.
//! - [`printers`], [`files`], [`jobs`], [`users`], [`plugins`]: the resources.
//! - [`events`]: the live event stream (Server-Sent Events).

pub mod auth;
pub mod error;
pub mod events;
pub mod files;
pub mod jobs;
pub mod plugins;
pub mod printers;
pub mod session;
pub mod users;

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ListenerState;
use auth::SecurityAddon;

/// The shared state every handler gets.
pub type ApiState = Arc<ListenerState>;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "printfarm host API",
        description = "The farm's own API: printers, the G-code library, the job queue, history, plugins and users. \
                       Authenticate with `X-Api-Key: <key>` or `Authorization: Bearer <key>`.",
    ),
    servers((url = "/farm", description = "the host prefix")),
    modifiers(&SecurityAddon),
    security(("api_key" = []), ("bearer" = [])),
)]
struct ApiDoc;

/// The host routes, to be nested under [`HOST_PREFIX`](crate::HOST_PREFIX), and the OpenAPI document.
pub fn router(state: ApiState) -> Router<ApiState> {
    let (protected, doc) = OpenApiRouter::<ApiState>::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::me))
        .routes(routes!(events::stream))
        .routes(routes!(session::current))
        .routes(routes!(session::list))
        .routes(routes!(session::revoke))
        .routes(routes!(printers::list))
        .routes(routes!(printers::get_one))
        .routes(routes!(printers::temperatures))
        .routes(routes!(printers::terminal))
        .routes(routes!(printers::snapshot))
        .routes(routes!(printers::connect))
        .routes(routes!(printers::disconnect))
        .routes(routes!(printers::commands))
        .routes(routes!(printers::bed_cleared))
        .routes(routes!(printers::pause))
        .routes(routes!(printers::resume))
        .routes(routes!(printers::cancel))
        .routes(routes!(files::list, files::upload, files::delete))
        .routes(routes!(files::info))
        .routes(routes!(files::download))
        .routes(routes!(files::thumbnail))
        .routes(routes!(files::make_folder))
        .routes(routes!(files::move_entry))
        .routes(routes!(files::copy_entry))
        .routes(routes!(jobs::list, jobs::enqueue))
        .routes(routes!(jobs::get_one))
        .routes(routes!(jobs::cancel))
        .routes(routes!(jobs::set_priority))
        .routes(routes!(jobs::task))
        .routes(routes!(jobs::retry))
        .routes(routes!(jobs::dismiss))
        .routes(routes!(jobs::queue_state, jobs::set_queue_state))
        .routes(routes!(jobs::history))
        .routes(routes!(plugins::list))
        .routes(routes!(plugins::get_one))
        .routes(routes!(plugins::config))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::delete))
        .routes(routes!(users::create_key, users::list_keys))
        .routes(routes!(users::revoke_key))
        .routes(routes!(users::key_requests))
        .routes(routes!(users::decide_key_request))
        .split_for_parts();
    // Logging in and out needs no credentials: outside the authentication layer, in the same
    // document.
    let (public, public_doc) = OpenApiRouter::<ApiState>::new()
        .routes(routes!(session::login))
        .routes(routes!(session::logout))
        .split_for_parts();
    let mut doc = doc;
    doc.merge(public_doc);
    let doc = Arc::new(doc.to_pretty_json().unwrap_or_default());
    let protected = protected.layer(axum::middleware::from_fn_with_state(
        state,
        auth::authenticate,
    ));
    Router::new()
        .route("/health", get(health))
        .merge(public)
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        doc.as_str().to_string(),
                    )
                }
            }),
        )
        .merge(protected)
}

async fn health() -> Response {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION"), "api": crate::plugin::api::NEWEST.to_string() }))
        .into_response()
}
