//! Who is calling: the API key of `X-Api-Key` or `Authorization: Bearer`, resolved to a farm
//! identity before any handler runs; and what each role may do.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use printfarm_core::identity::{Identity, Role};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::error::{ApiError, ApiResult};
use super::session;
use super::ApiState;

/// The API key header, as OctoPrint clients send it too.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Adds the two ways of passing a key to the OpenAPI document.
pub struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn presented_key(req: &Request) -> Option<String> {
    key_of(req.headers())
}

/// The API key of `X-Api-Key` or `Authorization: Bearer`, if the request has one.
pub fn key_of(headers: &axum::http::HeaderMap) -> Option<String> {
    if let Some(key) = headers.get(API_KEY_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(key.trim().to_string());
    }
    let auth = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())?;
    let (scheme, key) = auth.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| key.trim().to_string())
}

/// Resolves the caller's identity and stores it in the request, or answers 401. An API key
/// wins over a session cookie; a cookie session's changes need its CSRF token.
pub async fn authenticate(State(state): State<ApiState>, mut req: Request, next: Next) -> Response {
    let reads = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let ids = &state.host.services.identities;
    let identity = if let Some(key) = presented_key(&req) {
        match ids.verify_api_key(&key).await {
            Ok(Some(identity)) => identity,
            Ok(None) => {
                return ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "the API key is not valid; ask an admin for one (`printfarm user add`)",
                )
                .into_response()
            }
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else if let Some(token) = session::cookie_token(req.headers()) {
        match ids.check_session(&token).await {
            Ok(Some(identity)) => {
                if !reads && !session::carries_csrf_token(req.headers(), &token) {
                    return session::csrf_refusal().into_response();
                }
                req.extensions_mut().insert(session::SessionToken(token));
                identity
            }
            Ok(None) => {
                return ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "the session has expired or was ended; log in again",
                )
                .into_response()
            }
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this route needs an API key (`X-Api-Key: <key>` or `Authorization: Bearer <key>`) or a session (POST /farm/api/login)",
        )
        .into_response();
    };
    // Viewers read only: refused before the request is even looked at, so a malformed change
    // from a viewer is a 403, not a 400 that hints at what would be accepted.
    if !reads {
        if let Err(refused) = require(&identity, Role::Operator) {
            return refused.into_response();
        }
    }
    req.extensions_mut().insert(identity);
    next.run(req).await
}

/// Refuses (403) a caller whose role is below `needed`.
pub fn require(identity: &Identity, needed: Role) -> ApiResult<()> {
    if identity.role >= needed {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "`{}` is a {}; this needs the {} role",
                identity.user, identity.role, needed
            ),
        ))
    }
}

/// Who the API key belongs to.
#[utoipa::path(get, path = "/api/me", tag = "users",
    responses((status = 200, body = Identity), (status = 401, description = "no valid API key")))]
pub async fn me(Extension(identity): Extension<Identity>) -> Json<Identity> {
    Json(identity)
}
