//! `/api/access…`: OctoPrint's access model (permissions, groups, users) as its clients read it.
//! The farm's three roles map onto OctoPrint's groups (admin → admins, operator → users,
//! viewer → readonly); the permissions and groups are OctoPrint 1.11's own, so a client that
//! checks a permission by name finds it.

use printfarm_sdk::auth::Role;
use printfarm_sdk::{Error, Request, Response};
use serde_json::{json, Value};

use crate::auth::{self, Access, Caller};

/// OctoPrint 1.11's permissions and groups, as its API lists them.
const MODEL: &str = include_str!("access_model.json");

fn model(part: &str) -> Result<Value, Error> {
    let all: Value = serde_json::from_str(MODEL).map_err(|e| Error::internal(e.to_string()))?;
    Ok(all.get(part).cloned().unwrap_or(Value::Null))
}

/// `GET /api/access/permissions`: open to every caller, as OctoPrint's is.
pub fn permissions(_req: &Request) -> Result<Response, Error> {
    Ok(Response::ok_json(
        &json!({ "permissions": model("permissions")? }),
    ))
}

/// `GET /api/access/groups`: admins only.
pub fn groups(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Admin)?;
    Ok(Response::ok_json(&json!({ "groups": model("groups")? })))
}

/// The user record OctoPrint's access API answers for a caller.
pub fn user_record(caller: &Caller) -> Value {
    let role = caller.identity.role;
    let groups = auth::groups(role);
    json!({
        "name": caller.identity.user,
        "active": true,
        "admin": role == Role::Admin,
        "user": true,
        "apikey": caller.key,
        "groups": groups,
        "needs": {
            "group": groups,
            "role": auth::permissions(role).iter().map(|p| p.to_ascii_lowercase()).collect::<Vec<_>>(),
        },
        "permissions": [],
        "roles": if role == Role::Admin { vec!["user", "admin"] } else { vec!["user"] },
        "settings": {},
    })
}

/// `GET /api/access/users/{name}`: a user's own record (admins may read any user's; the farm
/// tells the plugin only who is calling, so another user's record is 404 for now).
pub fn user(req: &Request) -> Result<Response, Error> {
    let caller = auth::require(req, Access::Read)?;
    let name: String = req.param("name")?;
    if name == caller.identity.user {
        return Ok(Response::ok_json(&user_record(&caller)));
    }
    if caller.identity.role != Role::Admin {
        return Err(crate::errors::forbidden());
    }
    Err(Error::not_found(format!("Unknown user: {name}")))
}

/// `GET /api/users` and `/api/users/{name}`: OctoPrint's old paths, redirected (307) to
/// `/api/access/users…`.
pub fn old_users(req: &Request) -> Result<Response, Error> {
    let rest = req
        .param_str("name")
        .map(|n| format!("/{n}"))
        .unwrap_or_default();
    Ok(Response::redirect(&req.url_for(&format!("/api/access/users{rest}"))).with_status(307))
}
