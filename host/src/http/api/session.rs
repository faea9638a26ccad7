//! Browser sessions: log in with a farm user's password, get an `HttpOnly` session cookie and a
//! CSRF token; every change made with the cookie must carry the token in `X-CSRF-Token`, which a
//! page of another site cannot read. API keys need none of this (no browser sends them by itself).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cookie::{Cookie, SameSite};
use printfarm_core::identity::{Identities, Identity, Role, Session};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult, JsonBody};
use super::ApiState;

/// The session cookie's name.
pub const COOKIE: &str = "printfarm_session";
/// The header that carries the CSRF token of a cookie session's changes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Whether a request's `X-CSRF-Token` is the one of session `token`: what every change made
/// with the session cookie must carry.
pub fn carries_csrf_token(headers: &HeaderMap, token: &str) -> bool {
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    sent == Some(Identities::csrf_token(token).as_str())
}
/// How long a session lasts: a working week, so a dashboard left open on a shop-floor screen
/// stays logged in, yet a lost laptop's session ends.
pub const SESSION_SECS: u32 = 7 * 24 * 3600;

/// Password checks that may run at once (each hashes with Argon2, about 19 MiB of memory).
static PASSWORD_CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// The session token of a request's cookie, if it has one.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
}

/// A `Cookie` header's value without the session cookie, for requests passed to plugins: a
/// plugin must not see a token that acts as the user on the host API. `None` when nothing is left.
pub fn without_session_cookie(value: &str) -> Option<String> {
    let kept: Vec<&str> = value
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| pair.split('=').next().map(str::trim) != Some(COOKIE))
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// Whether a `Set-Cookie` value would set the session cookie (refused from plugins: a plugin
/// must not fix a browser's session).
pub fn sets_session_cookie(value: &str) -> bool {
    value.split('=').next().map(str::trim) == Some(COOKIE)
}

/// The header in which the host tells a plugin's route the dashboard user behind the request.
pub const DASHBOARD_USER_HEADER: &str = "x-printfarm-user";
/// The header in which the host tells a plugin's route that user's role.
pub const DASHBOARD_ROLE_HEADER: &str = "x-printfarm-role";

/// Whether a request header is one only the host may set for plugins (a client's own copy is
/// removed before the plugin sees the request).
pub fn is_dashboard_identity_header(name: &str) -> bool {
    name.eq_ignore_ascii_case(DASHBOARD_USER_HEADER)
        || name.eq_ignore_ascii_case(DASHBOARD_ROLE_HEADER)
}

/// The dashboard user behind a request's session cookie, for a plugin's route: a read, or a
/// change that carries the session's CSRF token (as the host API asks). `None` otherwise: no
/// cookie, an ended session, or a change a page of another site could have forged.
pub async fn dashboard_identity(
    ids: &Identities,
    reads: bool,
    headers: &HeaderMap,
) -> Option<Identity> {
    let token = cookie_token(headers)?;
    if !reads && !carries_csrf_token(headers, &token) {
        return None;
    }
    match ids.check_session(&token).await {
        Ok(identity) => identity,
        Err(e) => {
            tracing::warn!(error = %e, "checking a dashboard session for a plugin route failed");
            None
        }
    }
}

/// The token of the session a request was authenticated by (absent for API keys).
#[derive(Debug, Clone)]
pub struct SessionToken(pub String);

/// Whether the client reached us over TLS (a reverse proxy says so in `X-Forwarded-Proto`): the
/// cookie is then `Secure`.
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

fn set_cookie(value: String, max_age_secs: i64, tls: bool) -> HeaderValue {
    let cookie = Cookie::build((COOKIE, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(tls)
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("a cookie is a valid header value")
}

/// A login.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Login {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

/// Who is logged in, and the token their page sends with every change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// The user.
    pub user: String,
    /// Their role.
    pub role: Role,
    /// The CSRF token: send it as `X-CSRF-Token` with every change made with the session cookie.
    pub csrf: String,
    /// This session's id (as `GET /api/sessions` lists it).
    pub session: String,
}

fn info(identity: Identity, token: &str) -> SessionInfo {
    SessionInfo {
        user: identity.user,
        role: identity.role,
        csrf: Identities::csrf_token(token),
        session: Identities::session_id_of(token),
    }
}

/// Logs in with a password: sets the session cookie (`HttpOnly`, `SameSite=Strict`, `Secure`
/// behind TLS) and answers the CSRF token.
#[utoipa::path(post, path = "/api/login", tag = "sessions", request_body = Login,
    responses((status = 200, body = SessionInfo), (status = 400), (status = 401, description = "wrong user or password")),
    security(()))]
pub async fn login(
    State(state): State<ApiState>,
    headers: HeaderMap,
    JsonBody(login): JsonBody<Login>,
) -> ApiResult<Response> {
    let ids = &state.host.services.identities;
    // A password check costs a memory-hard hash: a flood of logins waits its turn here instead
    // of taking every blocking thread and gigabytes of memory.
    let turn = PASSWORD_CHECKS
        .acquire()
        .await
        .expect("the password-check semaphore is never closed");
    let checked = ids
        .verify_password(login.user.trim(), &login.password)
        .await;
    drop(turn);
    let Some(identity) = checked? else {
        tracing::info!(user = %login.user.trim(), "a login failed");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong user name or password",
        ));
    };
    let token = ids.create_session(&identity.user, SESSION_SECS).await?;
    tracing::info!(user = %identity.user, "logged in");
    let cookie = set_cookie(token.clone(), i64::from(SESSION_SECS), over_tls(&headers));
    Ok(([(header::SET_COOKIE, cookie)], Json(info(identity, &token))).into_response())
}

/// Logs out: ends the session and clears the cookie. Without a session it only clears the cookie.
#[utoipa::path(post, path = "/api/logout", tag = "sessions", responses((status = 204)), security(()))]
pub async fn logout(State(state): State<ApiState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(token) = cookie_token(&headers) {
        // The CSRF token is required here too: another site must not log a user out either.
        if !carries_csrf_token(&headers, &token) {
            return Err(csrf_refusal());
        }
        state.host.services.identities.end_session(&token).await?;
    }
    let cookie = set_cookie(String::new(), 0, over_tls(&headers));
    Ok(([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response())
}

/// The refusal of a cookie session's change without the right CSRF token.
pub fn csrf_refusal() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "this change came with the session cookie but without its CSRF token: send the `csrf` of \
         POST /farm/api/login (or GET /farm/api/session) as `X-CSRF-Token`",
    )
}

/// The session of the cookie: who is logged in and the CSRF token (what a page reads on load).
#[utoipa::path(get, path = "/api/session", tag = "sessions",
    responses((status = 200, body = SessionInfo), (status = 401), (status = 404, description = "authenticated by an API key, not a session")))]
pub async fn current(
    Extension(identity): Extension<Identity>,
    token: Option<Extension<SessionToken>>,
) -> ApiResult<Json<SessionInfo>> {
    let Some(Extension(SessionToken(token))) = token else {
        return Err(ApiError::not_found(
            "this request was authenticated by an API key; there is no session",
        ));
    };
    Ok(Json(info(identity, &token)))
}

/// Live sessions: your own (admins: everyone's).
#[utoipa::path(get, path = "/api/sessions", tag = "sessions", responses((status = 200, body = [Session])))]
pub async fn list(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
) -> ApiResult<Json<Vec<Session>>> {
    let user = (who.role < Role::Admin).then_some(who.user.as_str());
    Ok(Json(state.host.services.identities.sessions(user).await?))
}

/// Ends a session: your own (admins: anyone's).
#[utoipa::path(delete, path = "/api/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "session id")),
    responses((status = 204), (status = 404)))]
pub async fn revoke(
    State(state): State<ApiState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let user = (who.role < Role::Admin).then_some(who.user.as_str());
    if state
        .host
        .services
        .identities
        .revoke_session(&id, user)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no session `{id}` of yours")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_never_see_or_set_the_session_cookie() {
        assert_eq!(
            without_session_cookie("a=1; printfarm_session=secret; b=2").as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(without_session_cookie("printfarm_session=secret"), None);
        assert!(sets_session_cookie("printfarm_session=x; Path=/"));
        assert!(!sets_session_cookie("other=printfarm_session"));
    }
}
