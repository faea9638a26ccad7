//! The farm's identities (WIT interface `auth`): one user has one API key and one password for
//! every surface.
//!
//! Needs the `auth` capability; [`create_api_key`] needs `auth.issue-keys`.

use super::host_call;
use crate::bindings::printfarm::plugin::auth as raw;
use crate::HostError;

/// An authenticated farm user: `user` and `role`.
pub use raw::Identity;
/// Where an application's key request stands: `Pending`, `Approved(key)` (handed out once) or `Gone`.
pub use raw::KeyRequestState;
/// What a user may do: `Admin` (everything), `Operator` (printers, files, jobs), `Viewer` (read only).
pub use raw::Role;

impl Role {
    /// The role's name as the WIT contract spells it (`admin`, `operator`, `viewer`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    /// True if this role may change printers, files and jobs (admins and operators).
    pub fn can_operate(&self) -> bool {
        matches!(self, Role::Admin | Role::Operator)
    }
}

/// The farm API key a request carries where the host API takes it: `X-Api-Key: <key>`, or
/// `Authorization: Bearer <key>` (the scheme in any case). `None` when it carries none; check it
/// with [`verify_api_key`].
///
/// ```
/// use printfarm_sdk::{auth, Request};
///
/// let req = Request::builder("GET", "/x").header("authorization", "bearer k1").build();
/// assert_eq!(auth::api_key(&req), Some("k1"));
/// ```
pub fn api_key(req: &crate::Request) -> Option<&str> {
    if let Some(key) = req
        .header("x-api-key")
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        return Some(key);
    }
    let (scheme, key) = req.header("authorization")?.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| key.trim())
        .filter(|k| !k.is_empty())
}

/// The farm user logged in to the dashboard in the browser that sent `req`, as the host vouches
/// for: `None` when there is none.
///
/// The host removes any `x-printfarm-user` and `x-printfarm-role` headers a client sends and
/// sets them itself, for plugins holding the `auth` capability, when the request carries a
/// valid dashboard session: for `GET`, `HEAD` and `OPTIONS`, and for other methods only with
/// the session's CSRF token (`X-CSRF-Token`), so a page of another site cannot act as the user.
/// This is what lets a plugin's own web page (`pages` in `plugin.toml`) open from the
/// dashboard with no key to type.
///
/// ```
/// use printfarm_sdk::{auth, Request};
///
/// let req = Request::builder("GET", "/")
///     .header("x-printfarm-user", "ann")
///     .header("x-printfarm-role", "operator")
///     .build();
/// let who = auth::dashboard_user(&req).unwrap();
/// assert_eq!((who.user.as_str(), who.role.can_operate()), ("ann", true));
/// ```
pub fn dashboard_user(req: &crate::Request) -> Option<Identity> {
    let user = req.header("x-printfarm-user")?.to_string();
    let role = match req.header("x-printfarm-role")? {
        "admin" => Role::Admin,
        "operator" => Role::Operator,
        "viewer" => Role::Viewer,
        _ => return None,
    };
    Some(Identity { user, role })
}

/// Who sent `req`: the owner of its API key ([`api_key`], checked with [`verify_api_key`]), or
/// else the dashboard user ([`dashboard_user`]). `None` when neither; a key that belongs to
/// nobody is `None` too, even with a dashboard session beside it.
pub fn identify(req: &crate::Request) -> Result<Option<Identity>, HostError> {
    match api_key(req) {
        Some(key) => verify_api_key(key),
        None => Ok(dashboard_user(req)),
    }
}

/// Checks an API key. `None` when it belongs to nobody.
pub fn verify_api_key(key: &str) -> Result<Option<Identity>, HostError> {
    host_call!("auth::verify_api_key", raw::verify_api_key(key))
}

/// Checks a user name and password. `None` when they do not match.
pub fn verify_password(user: &str, password: &str) -> Result<Option<Identity>, HostError> {
    host_call!(
        "auth::verify_password",
        raw::verify_password(user, password)
    )
}

/// Opens a session for a user, valid for `ttl_secs`, and returns its opaque token.
pub fn create_session(user: &str, ttl_secs: u32) -> Result<String, HostError> {
    host_call!("auth::create_session", raw::create_session(user, ttl_secs))
}

/// The user behind a session token; `None` if it is unknown or expired.
pub fn check_session(token: &str) -> Result<Option<Identity>, HostError> {
    host_call!("auth::check_session", raw::check_session(token))
}

/// Ends a session.
pub fn end_session(token: &str) -> Result<(), HostError> {
    host_call!("auth::end_session", raw::end_session(token))
}

/// Issues a new API key for a user (for application-key workflows) and returns it; it is shown
/// once. Needs `auth.issue-keys`.
pub fn create_api_key(user: &str, label: &str) -> Result<String, HostError> {
    host_call!("auth::create_api_key", raw::create_api_key(user, label))
}

/// Files an application's request for an API key and returns the token it polls with. Admins
/// decide through the host API, unless `approve_as` names the user to approve it for at once.
/// Needs `auth.issue-keys`.
pub fn request_api_key(
    app: &str,
    user: Option<&str>,
    client: &str,
    ttl_secs: u32,
    approve_as: Option<&str>,
) -> Result<String, HostError> {
    host_call!(
        "auth::request_api_key",
        raw::request_api_key(app, user, client, ttl_secs, approve_as)
    )
}

/// Where a key request stands; an approved key is returned once. Needs `auth.issue-keys`.
pub fn poll_api_key_request(token: &str) -> Result<KeyRequestState, HostError> {
    host_call!(
        "auth::poll_api_key_request",
        raw::poll_api_key_request(token)
    )
}
