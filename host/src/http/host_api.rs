//! The host's own routes under `/farm`: health, the plugin list and the printers' state.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::error::json_error;
use super::ListenerState;
use crate::runtime::{LoadedPlugin, PluginStatus};

/// The host routes, to be nested under [`HOST_PREFIX`](crate::HOST_PREFIX).
pub fn router() -> Router<Arc<ListenerState>> {
    Router::new()
        .route("/health", get(health))
        .route("/api/plugins", get(list_plugins))
        .route("/api/plugins/{id}", get(get_plugin))
        .route("/api/printers", get(list_printers))
        .route("/api/printers/{id}", get(get_printer))
}

async fn health() -> Response {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION"), "api": crate::API_VERSION })).into_response()
}

/// A plugin as the host API shows it.
#[derive(Serialize)]
pub struct PluginView {
    id: String,
    name: Option<String>,
    version: String,
    api: String,
    description: Option<String>,
    per_printer: bool,
    routes: Vec<String>,
    push_routes: Vec<String>,
    capabilities_declared: Vec<String>,
    capabilities_granted: Vec<String>,
    outbound_hosts: Vec<String>,
    events: Vec<String>,
    #[serde(flatten)]
    status: PluginStatus,
}

fn view(p: &LoadedPlugin) -> PluginView {
    let m = &p.package.manifest;
    PluginView {
        id: m.id.clone(),
        name: m.name.clone(),
        version: m.version.to_string(),
        api: m.api.to_string(),
        description: m.description.clone(),
        per_printer: m.per_printer,
        routes: m.routes.clone(),
        push_routes: m.push_routes.clone(),
        capabilities_declared: p.ctx.grants.declared().map(|c| c.to_string()).collect(),
        capabilities_granted: p.ctx.grants.effective().map(|c| c.to_string()).collect(),
        outbound_hosts: p.ctx.outbound.origins(),
        events: m.events.clone(),
        status: p.status(),
    }
}

async fn list_plugins(State(state): State<Arc<ListenerState>>) -> Response {
    Json(
        state
            .host
            .plugins
            .iter()
            .map(|p| view(p))
            .collect::<Vec<_>>(),
    )
    .into_response()
}

async fn get_plugin(State(state): State<Arc<ListenerState>>, Path(id): Path<String>) -> Response {
    match state.host.plugins.iter().find(|p| p.id() == id) {
        Some(p) => Json(view(p)).into_response(),
        None => json_error(StatusCode::NOT_FOUND, format!("no plugin with id `{id}`")),
    }
}

async fn list_printers(State(state): State<Arc<ListenerState>>) -> Response {
    Json(state.host.services.printers.summaries()).into_response()
}

async fn get_printer(State(state): State<Arc<ListenerState>>, Path(id): Path<String>) -> Response {
    match state.host.services.printers.summary(&id) {
        Some(printer) => Json(printer).into_response(),
        None => json_error(StatusCode::NOT_FOUND, format!("no printer with id `{id}`")),
    }
}
