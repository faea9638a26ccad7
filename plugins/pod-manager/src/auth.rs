//! Who is calling, as Django REST Framework's `SessionAuthentication` and
//! `TokenAuthentication` decide it, in that order:
//!
//! * a `sessionid` cookie naming a live farm session (from `POST /accounts/login/`); unsafe
//!   methods must then prove they come from our pages or client with `X-CSRFToken` (or the
//!   `csrfmiddlewaretoken` form field of the browsable API's forms) equal to the `csrftoken`
//!   cookie and to the token issued with that session;
//! * `Authorization: Token <key>` with the user's farm API key (no CSRF: a header a browser
//!   never adds by itself). `X-Api-Key`, the farm's own header, is accepted the same way.
//!
//! Everything else is anonymous and gets DRF's 403s. Viewers may read, not change.

use printfarm_sdk::auth::{self, Identity};
use printfarm_sdk::{Error, Request};

use crate::drf::{self, forbidden};
use crate::sessions::{self, cookie};

/// How a request authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A login session; the token is the `sessionid` cookie.
    Session(String),
    /// A farm API key.
    Token,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The farm user.
    pub identity: Identity,
    /// How they authenticated.
    pub via: Via,
}

/// Whether a method may change state (Django's CSRF check and DRF's permissions both draw the
/// line here).
pub fn is_unsafe(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// The API key of `Authorization: Token <key>` or `X-Api-Key`.
pub fn token(req: &Request) -> Option<String> {
    if let Some(v) = req.header("authorization") {
        let v = v.trim();
        if v.len() > 6 && v[..6].eq_ignore_ascii_case("token ") {
            let k = v[6..].trim();
            if !k.is_empty() {
                return Some(k.to_string());
            }
        }
    }
    req.header("x-api-key")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
}

/// The user behind a live session token.
pub fn session_identity(token: &str) -> Result<Option<Identity>, Error> {
    Ok(auth::check_session(token)?)
}

/// The caller, or `None` for anonymous requests. An API key that belongs to nobody is DRF's 403
/// `Invalid token.`; a stale session cookie is simply ignored, as Django does.
pub fn authenticate(req: &Request) -> Result<Option<Principal>, Error> {
    if let Some(session) = cookie(req, sessions::SESSION_COOKIE) {
        if let Some(identity) = session_identity(&session)? {
            return Ok(Some(Principal {
                identity,
                via: Via::Session(session),
            }));
        }
    }
    match token(req) {
        Some(key) => match auth::verify_api_key(&key)? {
            Some(identity) => Ok(Some(Principal {
                identity,
                via: Via::Token,
            })),
            None => Err(forbidden(drf::INVALID_TOKEN)),
        },
        None => Ok(None),
    }
}

/// The caller, who must be authenticated; for unsafe methods also allowed to change things
/// (operators and admins) and, with a session, past the CSRF check.
pub fn require(req: &Request) -> Result<Principal, Error> {
    let principal = authenticate(req)?.ok_or_else(|| forbidden(drf::NOT_AUTHENTICATED))?;
    if is_unsafe(req.method()) {
        if let Via::Session(session) = &principal.via {
            // DRF checks CSRF inside authentication, before permissions.
            check_csrf(req, session)?;
        }
        if !principal.identity.role.can_operate() {
            return Err(forbidden(drf::PERMISSION_DENIED));
        }
    }
    Ok(principal)
}

/// The caller, who must be authenticated; no role or CSRF check (for redirects, which change
/// nothing themselves).
pub fn require_any(req: &Request) -> Result<Principal, Error> {
    authenticate(req)?.ok_or_else(|| forbidden(drf::NOT_AUTHENTICATED))
}

/// Django's double-submit check, bound to the session: the token the client sends (header, or
/// the form field of our HTML forms) must equal its `csrftoken` cookie and the token issued with
/// this session at login.
fn check_csrf(req: &Request, session: &str) -> Result<(), Error> {
    let sent = req
        .header("x-csrftoken")
        .map(str::to_string)
        .or_else(|| req.form_field("csrfmiddlewaretoken").map(str::to_string));
    let cookie = cookie(req, sessions::CSRF_COOKIE);
    let issued = sessions::csrf_of(session);
    match (sent, cookie, issued) {
        (Some(s), Some(c), Some(i)) if !s.is_empty() && s == c && c == i => Ok(()),
        _ => Err(forbidden(drf::CSRF_FAILED)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_tokens_parse() {
        let r = Request::builder("GET", "/api/")
            .header("cookie", "a=1; sessionid=abc; csrftoken=\"x y\"")
            .header("authorization", "Token k123")
            .build();
        assert_eq!(cookie(&r, "sessionid").as_deref(), Some("abc"));
        assert_eq!(cookie(&r, "csrftoken").as_deref(), Some("x y"));
        assert_eq!(cookie(&r, "session"), None);
        assert_eq!(token(&r).as_deref(), Some("k123"));
        let r = Request::builder("GET", "/api/")
            .header("x-api-key", "k9")
            .build();
        assert_eq!(token(&r).as_deref(), Some("k9"));
        assert!(is_unsafe("POST") && !is_unsafe("GET"));
    }
}
