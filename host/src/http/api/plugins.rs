//! `/api/plugins`: each plugin's manifest, grants and state (and why it is disabled).

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;

use super::error::{ApiError, ApiResult};
use super::ApiState;
use crate::runtime::{LoadedPlugin, PluginStatus};

/// A plugin as the host API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PluginView {
    id: String,
    name: Option<String>,
    version: String,
    api: String,
    description: Option<String>,
    per_printer: bool,
    routes: Vec<String>,
    push_routes: Vec<String>,
    /// Routes served at the host's root whatever the mount.
    root_routes: Vec<String>,
    capabilities_declared: Vec<String>,
    capabilities_granted: Vec<String>,
    outbound_hosts: Vec<String>,
    events: Vec<String>,
    /// `state` (`enabled`/`disabled`), `reason`, call and failure counts.
    #[serde(flatten)]
    #[schema(value_type = Object)]
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
        root_routes: m.root_routes.clone(),
        capabilities_declared: p.ctx.grants.declared().map(|c| c.to_string()).collect(),
        capabilities_granted: p.ctx.grants.effective().map(|c| c.to_string()).collect(),
        outbound_hosts: p.ctx.outbound.origins(),
        events: m.events.clone(),
        status: p.status(),
    }
}

/// Every plugin with its state.
#[utoipa::path(get, path = "/api/plugins", tag = "plugins", responses((status = 200, body = [PluginView])))]
pub async fn list(State(state): State<ApiState>) -> Json<Vec<PluginView>> {
    Json(state.host.plugins.iter().map(|p| view(p)).collect())
}

/// One plugin.
#[utoipa::path(get, path = "/api/plugins/{id}", tag = "plugins", params(("id" = String, Path, description = "plugin id")),
    responses((status = 200, body = PluginView), (status = 404)))]
pub async fn get_one(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<PluginView>> {
    state
        .host
        .plugins
        .iter()
        .find(|p| p.id() == id)
        .map(|p| Json(view(p)))
        .ok_or_else(|| ApiError::not_found(format!("no plugin with id `{id}`")))
}
