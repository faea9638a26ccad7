//! `/api/users`: farm users and their API keys (admins only).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use printfarm_core::identity::key_request::KeyRequest;
use printfarm_core::identity::{ApiKeyInfo, Identity, Role, User};
use serde::{Deserialize, Serialize};

use super::auth::require;
use super::error::{ApiResult, JsonBody};
use super::ApiState;

/// Every user.
#[utoipa::path(get, path = "/api/users", tag = "users", responses((status = 200, body = [User]), (status = 403)))]
pub async fn list(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
) -> ApiResult<Json<Vec<User>>> {
    require(&who, Role::Admin)?;
    Ok(Json(state.host.services.identities.users().await?))
}

/// A user to create.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// The name: letters, digits, `.`, `_`, `-`, `@`.
    pub name: String,
    /// The role.
    pub role: Role,
    /// A password for browser logins (at least 8 characters); none means API keys only.
    pub password: Option<String>,
}

/// A created user and its first API key (shown this once).
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedUser {
    /// The user.
    pub user: User,
    /// The API key; only its hash is kept.
    pub api_key: String,
}

/// Creates a user with a first API key.
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = CreatedUser), (status = 400), (status = 403), (status = 409)))]
pub async fn create(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    JsonBody(body): JsonBody<NewUser>,
) -> ApiResult<(StatusCode, Json<CreatedUser>)> {
    require(&who, Role::Admin)?;
    let (user, api_key) = state
        .host
        .services
        .identities
        .add_user(&body.name, body.role, body.password.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedUser { user, api_key })))
}

/// Deletes a user with their keys and sessions.
#[utoipa::path(delete, path = "/api/users/{name}", tag = "users", params(("name" = String, Path, description = "user name")),
    responses((status = 204), (status = 403), (status = 404), (status = 409)))]
pub async fn delete(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    require(&who, Role::Admin)?;
    state.host.services.identities.delete_user(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A key to issue.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// What the key is for (`PrusaSlicer on the workshop PC`).
    pub label: String,
}

/// An issued key (shown this once).
#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuedKey {
    /// The API key.
    pub api_key: String,
}

/// Issues another API key for a user.
#[utoipa::path(post, path = "/api/users/{name}/keys", tag = "users", params(("name" = String, Path, description = "user name")),
    request_body = NewKey, responses((status = 201, body = IssuedKey), (status = 403), (status = 404)))]
pub async fn create_key(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<NewKey>,
) -> ApiResult<(StatusCode, Json<IssuedKey>)> {
    require(&who, Role::Admin)?;
    let api_key = state
        .host
        .services
        .identities
        .create_api_key(&name, &body.label)
        .await?;
    Ok((StatusCode::CREATED, Json(IssuedKey { api_key })))
}

/// Applications' requests for API keys (OctoPrint's app-keys workflow) waiting for a decision.
#[utoipa::path(get, path = "/api/key-requests", tag = "users",
    responses((status = 200, body = [KeyRequest]), (status = 403)))]
pub async fn key_requests(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
) -> ApiResult<Json<Vec<KeyRequest>>> {
    require(&who, Role::Admin)?;
    Ok(Json(state.host.services.identities.key_requests().await?))
}

/// A decision on a key request.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyDecision {
    /// Approve (the application then collects a new API key once) or deny.
    pub approve: bool,
    /// The farm user the key is for (default: the user the application asked for, else you).
    pub user: Option<String>,
}

/// Approves or denies an application's key request.
#[utoipa::path(post, path = "/api/key-requests/{id}", tag = "users",
    params(("id" = i64, Path, description = "request id")), request_body = KeyDecision,
    responses((status = 204), (status = 400), (status = 403), (status = 404), (status = 409)))]
pub async fn decide_key_request(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<KeyDecision>,
) -> ApiResult<StatusCode> {
    require(&who, Role::Admin)?;
    state
        .host
        .services
        .identities
        .decide_key_request(id, body.approve, body.user.as_deref(), &who.user)
        .await?;
    state.host.services.stream.publish(
        "key-request",
        &serde_json::json!({"id": id, "state": if body.approve { "approved" } else { "denied" }, "by": who.user}),
    );
    Ok(StatusCode::NO_CONTENT)
}

/// A user's API keys (labels and ids; the keys themselves are never shown again).
#[utoipa::path(get, path = "/api/users/{name}/keys", tag = "users", params(("name" = String, Path, description = "user name")),
    responses((status = 200, body = [ApiKeyInfo]), (status = 403), (status = 404)))]
pub async fn list_keys(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<ApiKeyInfo>>> {
    require(&who, Role::Admin)?;
    Ok(Json(state.host.services.identities.api_keys(&name).await?))
}

/// Revokes one of a user's API keys; it stops working at once.
#[utoipa::path(delete, path = "/api/users/{name}/keys/{id}", tag = "users",
    params(("name" = String, Path, description = "user name"), ("id" = i64, Path, description = "key id")),
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn revoke_key(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    Path((name, id)): Path<(String, i64)>,
) -> ApiResult<StatusCode> {
    require(&who, Role::Admin)?;
    state
        .host
        .services
        .identities
        .revoke_api_key(&name, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
