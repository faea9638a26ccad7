//! Login sessions as Django names them: the `sessionid` and `csrftoken` cookies, reading them
//! from a request, and the record the plugin keeps in kv per session (its CSRF token). Shared by
//! `accounts` (which opens and ends sessions), `auth` (which checks them) and `browsable` and
//! `status` (which look at them), so none of those depends on another for it.

use printfarm_sdk::{kv, Request};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Django's session cookie.
pub const SESSION_COOKIE: &str = "sessionid";
/// Django's CSRF cookie.
pub const CSRF_COOKIE: &str = "csrftoken";
/// What the plugin keeps per login session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The CSRF token issued with the session.
    pub csrf: String,
    /// The user (for the log and the sweep).
    pub user: String,
    /// When the farm session expires, Unix ms.
    pub expires_ms: u64,
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The kv key of a session's record: the token's SHA-256, never the token itself.
pub fn session_key(token: &str) -> String {
    format!("session/{}", hex(&Sha256::digest(token.as_bytes())))
}

/// The CSRF token issued with a session, if the session was opened here.
pub fn csrf_of(session: &str) -> Option<String> {
    kv::get_json::<SessionRecord>(&session_key(session))
        .ok()
        .flatten()
        .map(|r| r.csrf)
}

/// The value of a cookie of the request.
pub fn cookie(req: &Request, name: &str) -> Option<String> {
    cookie_in(req.header_all("cookie"), name)
}

/// The value of cookie `name` in `cookie` header values (`a=1; b=2`).
pub fn cookie_in<'a>(headers: impl Iterator<Item = &'a str>, name: &str) -> Option<String> {
    for header in headers {
        for pair in header.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                if k.trim() == name {
                    let v = v.trim().trim_matches('"');
                    if !v.is_empty() {
                        return Some(v.to_string());
                    }
                }
            }
        }
    }
    None
}
