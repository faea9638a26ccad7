//! `POST /accounts/login/` and `GET /accounts/logout/`: Django's session login on top of the
//! farm's own sessions (`auth::create_session`), so one farm user is the same person here, in
//! the OctoPrint surface and in the host API.
//!
//! The `sessionid` cookie carries the farm session token itself. The CSRF token is random and
//! kept in kv with the session (under the token's SHA-256, never the token itself), so a CSRF
//! token is only good together with the session it was issued with.
//!
//! Answers, chosen for the clients the original served:
//! * success: browsers (`Accept: text/html`) and forms with a `next` field are redirected (302)
//!   to `next` (default `/api/`), as Django's login view does; API clients get
//!   `200 {"detail": "Logged in.", "username", "role"}`. The cookies are set either way.
//! * bad credentials: API clients get DRF's `403 {"detail": "Invalid username/password."}`;
//!   browsers get the form again (200) with the error, as Django re-shows it.
//! * missing fields: `400 {"username": ["This field is required."]}` (per field).
//!
//! Login itself is exempt from CSRF (there is no session to protect yet); every unsafe request
//! made with the session is not.

use std::hash::{BuildHasher, Hasher};

use printfarm_sdk::auth;
use printfarm_sdk::{kv, Error, Request, Response};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::browsable;
use crate::config;
use crate::drf;
use crate::sessions::{cookie, hex, session_key, SessionRecord, CSRF_COOKIE, SESSION_COOKIE};
use crate::time::now_ms;

/// Django's CSRF cookie lifetime (CSRF_COOKIE_AGE, one year).
const CSRF_COOKIE_AGE: u32 = 31_449_600;
/// What DRF answers for a wrong user name or password.
pub const INVALID_LOGIN: &str = "Invalid username/password.";

/// A fresh 64-character token. The std hasher's keys come from WASI's random source, fresh in
/// every instance; hashing several of them with the clock gives an unguessable token without
/// another dependency.
pub fn random_token() -> String {
    let mut digest = Sha256::new();
    for i in 0..4u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        digest.update(h.finish().to_le_bytes());
    }
    digest.update(crate::time::now_micros().to_le_bytes());
    hex(&digest.finalize())
}

/// The form (or JSON) fields of a login request.
fn credentials(req: &Request) -> Map<String, Value> {
    let mut out = Map::new();
    for f in req.form_fields() {
        out.entry(f.name.clone())
            .or_insert_with(|| Value::String(f.value.clone()));
    }
    if out.is_empty() && !req.body().is_empty() {
        if let Ok(Value::Object(m)) = req.json_any_content_type::<Value>() {
            out = m;
        }
    }
    out
}

/// Where to go after a login: `next` if it is a local path (never another site).
fn next_target(fields: &Map<String, Value>, req: &Request) -> Option<String> {
    let next = fields
        .get("next")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| req.query_param("next"))?;
    (next.starts_with('/') && !next.starts_with("//") && !next.contains('\\')).then_some(next)
}

/// `GET /accounts/login/` shows the form; `POST` logs in.
pub fn login(req: &Request) -> Result<Response, Error> {
    if req.method() != "POST" {
        return Ok(browsable::login_page(req, None, 200));
    }
    let fields = credentials(req);
    let field = |k: &str| {
        fields
            .get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let (user, password) = match (field("username"), field("password")) {
        (Some(u), Some(p)) => (u.to_string(), p.to_string()),
        (u, p) => {
            let mut errors = Map::new();
            for (name, v) in [("username", u), ("password", p)] {
                if v.is_none() {
                    errors.insert(name.into(), json!([drf::REQUIRED]));
                }
            }
            return Ok(Response::json(400, &Value::Object(errors)));
        }
    };
    let html = browsable::wants_html(req);
    let Some(identity) = auth::verify_password(&user, &password)? else {
        return Ok(if html {
            browsable::login_page(req, Some(INVALID_LOGIN), 200)
        } else {
            drf::detail(403, INVALID_LOGIN)
        });
    };
    let ttl = config::get().session_ttl_secs;
    let session = auth::create_session(&identity.user, ttl)?;
    let csrf = random_token();
    kv::set_json(
        &session_key(&session),
        &SessionRecord {
            csrf: csrf.clone(),
            user: identity.user.clone(),
            expires_ms: now_ms() + u64::from(ttl) * 1000,
        },
    )?;
    let next = next_target(&fields, req);
    let res = if html || next.is_some() {
        Response::redirect(next.as_deref().unwrap_or("/api/"))
    } else {
        Response::ok_json(&json!({
            "detail": "Logged in.",
            "username": identity.user,
            "role": identity.role.as_str(),
        }))
    };
    Ok(res
        .append_header(
            "set-cookie",
            &format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly; Max-Age={ttl}; SameSite=Lax"),
        )
        .append_header(
            "set-cookie",
            &format!("{CSRF_COOKIE}={csrf}; Path=/; Max-Age={CSRF_COOKIE_AGE}; SameSite=Lax"),
        ))
}

/// `GET /accounts/logout/`: ends the farm session and clears both cookies. Answers 200 whether
/// or not there was a session, as Django does.
pub fn logout(req: &Request) -> Result<Response, Error> {
    if let Some(session) = cookie(req, SESSION_COOKIE) {
        // An unknown or expired session is already what we want.
        let _ = auth::end_session(&session);
        let _ = kv::delete(&session_key(&session));
    }
    Ok(Response::ok_json(&json!({"detail": "Logged out."}))
        .append_header(
            "set-cookie",
            &format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Max-Age=0; SameSite=Lax"),
        )
        .append_header(
            "set-cookie",
            &format!("{CSRF_COOKIE}=; Path=/; Max-Age=0; SameSite=Lax"),
        ))
}

/// Deletes the records of sessions that expired without a logout, a batch at a time.
pub fn sweep() {
    let Ok(keys) = kv::list_keys("session/", 200) else {
        return;
    };
    let now = now_ms();
    for key in keys {
        let expired = match kv::get_json::<SessionRecord>(&key) {
            Ok(Some(r)) => r.expires_ms < now,
            _ => true,
        };
        if expired {
            let _ = kv::delete(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_and_long() {
        let a = random_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_token());
    }

    #[test]
    fn next_stays_on_this_site() {
        let r = Request::builder("POST", "/accounts/login/").build();
        let mut f = Map::new();
        f.insert("next".into(), json!("/api/files/"));
        assert_eq!(next_target(&f, &r).as_deref(), Some("/api/files/"));
        f.insert("next".into(), json!("//evil.example/"));
        assert_eq!(next_target(&f, &r), None);
        f.insert("next".into(), json!("https://evil.example/"));
        assert_eq!(next_target(&f, &r), None);
    }
}
