//! Authentication as OctoPrint does it: an API key from `X-Api-Key`, `Authorization: Bearer` or
//! `?apikey=`, checked against the farm's own keys. Missing or invalid keys are 403, never 401.

use printfarm_sdk::auth::{self, Identity, Role};
use printfarm_sdk::{Error, Request};

use crate::errors::{forbidden, host};

/// What an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any valid key, viewers included.
    Read,
    /// A key of a user who may change state (operators and admins).
    Control,
    /// An admin's key (OctoPrint's SYSTEM, SETTINGS and ADMIN permissions).
    Admin,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The farm identity behind the key.
    pub identity: Identity,
    /// The key the caller sent (OctoPrint echoes it in the user record and settings).
    pub key: String,
}

/// The API key of a request, from the places OctoPrint looks, in its order: the host's
/// (`X-Api-Key`, `Authorization: Bearer`), then `?apikey=`.
pub fn api_key(req: &Request) -> Option<String> {
    auth::api_key(req)
        .map(str::to_string)
        .or_else(|| req.query_param("apikey").filter(|k| !k.is_empty()))
}

/// The caller if the request carries a valid key, `None` otherwise (for the open endpoints,
/// where OctoPrint treats a bad key as an anonymous guest).
pub fn optional(req: &Request) -> Result<Option<Caller>, Error> {
    let Some(key) = api_key(req) else {
        return Ok(None);
    };
    let identity = auth::verify_api_key(&key).map_err(host)?;
    Ok(identity.map(|identity| Caller { identity, key }))
}

/// The caller, who must hold a valid key granting `access`; 403 otherwise. A change without a
/// valid key is first checked for OctoPrint's CSRF token (400 without it), as OctoPrint does
/// before it looks at permissions.
pub fn require(req: &Request, access: Access) -> Result<Caller, Error> {
    let caller = optional(req)?;
    crate::csrf::check(req, caller.is_some())?;
    let caller = caller.ok_or_else(forbidden)?;
    let allowed = match access {
        Access::Read => true,
        Access::Control => caller.identity.role.can_operate(),
        Access::Admin => caller.identity.role == Role::Admin,
    };
    if !allowed {
        return Err(forbidden());
    }
    Ok(caller)
}

/// OctoPrint's group names for a farm role.
pub fn groups(role: Role) -> Vec<&'static str> {
    match role {
        Role::Admin => vec!["admins", "users"],
        Role::Operator => vec!["users"],
        Role::Viewer => vec!["readonly"],
    }
}

/// OctoPrint's permission names for a farm role (what its clients check before offering a
/// control).
pub fn permissions(role: Role) -> Vec<&'static str> {
    const READ: [&str; 9] = [
        "STATUS",
        "CONNECTION",
        "WEBCAM",
        "SYSTEM",
        "FILES_LIST",
        "FILES_DOWNLOAD",
        "PRINTERPROFILES",
        "SETTINGS_READ",
        "MONITOR_TERMINAL",
    ];
    const CONTROL: [&str; 6] = [
        "CONTROL",
        "FILES_UPLOAD",
        "FILES_DELETE",
        "FILES_SELECT",
        "PRINT",
        "GCODE_VIEWER",
    ];
    let mut out: Vec<&str> = READ.to_vec();
    if role.can_operate() {
        out.extend(CONTROL);
    }
    if role == Role::Admin {
        out.extend(["ADMIN", "SETTINGS"]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_header_bearer_or_query() {
        let r = Request::builder("GET", "/api/job")
            .header("x-api-key", "abc")
            .build();
        assert_eq!(api_key(&r).as_deref(), Some("abc"));
        let r = Request::builder("GET", "/api/job")
            .header("authorization", "Bearer xyz")
            .build();
        assert_eq!(api_key(&r).as_deref(), Some("xyz"));
        let r = Request::builder("GET", "/api/job")
            .query("apikey=q1&x=2")
            .build();
        assert_eq!(api_key(&r).as_deref(), Some("q1"));
        let r = Request::builder("GET", "/api/job").build();
        assert_eq!(api_key(&r), None);
    }
}
