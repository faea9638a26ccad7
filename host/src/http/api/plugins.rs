//! `/api/plugins`: each plugin's manifest, grants and state (and why it is disabled).

use axum::extract::{Path, State};
use axum::{Extension, Json};
use printfarm_core::identity::{Identity, Role};
use serde::Serialize;

use super::auth::require;
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
    /// Its own web pages, to link from the dashboard.
    pages: Vec<PageLink>,
    /// `state` (`enabled`/`disabled`), `reason`, call and failure counts.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    status: PluginStatus,
}

/// A page of a plugin's own.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PageLink {
    /// The link's text.
    title: String,
    /// Its path on the host (`/obico/`).
    url: String,
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
        pages: m
            .pages
            .iter()
            .map(|page| PageLink {
                title: page.title.clone(),
                url: format!("{}{}", p.ctx.mount.trim_end_matches('/'), page.path),
            })
            .collect(),
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

/// A plugin's configuration: the JSON Schema it declares and the values the operator set.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PluginConfig {
    /// The schema (`null` when the plugin takes no configuration).
    #[schema(value_type = Object)]
    schema: serde_json::Value,
    /// The values from `[plugins.<id>.config]` in `printfarm.toml` (defaults not filled in).
    #[schema(value_type = Object)]
    values: serde_json::Value,
}

/// A plugin's config schema and values. Admins only: values may hold addresses and names an
/// operator would not show every viewer.
#[utoipa::path(get, path = "/api/plugins/{id}/config", tag = "plugins", params(("id" = String, Path, description = "plugin id")),
    responses((status = 200, body = PluginConfig), (status = 403), (status = 404)))]
pub async fn config(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> ApiResult<Json<PluginConfig>> {
    require(&who, Role::Admin)?;
    let plugin = state
        .host
        .plugins
        .iter()
        .find(|p| p.id() == id)
        .ok_or_else(|| ApiError::not_found(format!("no plugin with id `{id}`")))?;
    let schema = match &plugin.package.manifest.config_schema {
        None => serde_json::Value::Null,
        Some(file) => {
            let path = plugin.package.dir.join(file);
            let text = tokio::fs::read_to_string(&path).await.map_err(|e| {
                ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    format!("reading {}: {e}", path.display()),
                )
            })?;
            // Checked at start; a file changed since is shown as text rather than refused.
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        }
    };
    let values = serde_json::from_str(&plugin.ctx.config_json).unwrap_or_default();
    Ok(Json(PluginConfig { schema, values }))
}
