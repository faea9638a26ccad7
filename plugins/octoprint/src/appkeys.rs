//! OctoPrint's application-key workflow (its bundled `appkeys` plugin), which Home Assistant's
//! setup and Cura's discovery use to obtain a key without the user typing one in.
//!
//! * `GET /plugin/appkeys/probe` → 204: the workflow is supported.
//! * `POST /plugin/appkeys/request {"app", "user"?}` → 201 `{"app_token","auth_dialog"}` with
//!   `Location` pointing at the poll URL.
//! * `GET /plugin/appkeys/request/<app_token>` → 202 `{"message":"Awaiting decision"}` while
//!   pending, 200 `{"api_key"}` once approved (handed out once; the request is then gone), 404
//!   when denied, expired or unknown.
//!
//! OctoPrint asks the user in its web UI. The farm decides through two admin-only routes of its
//! own, authenticated with a farm admin key: `GET /plugin/appkeys/pending` lists the requests,
//! `POST /plugin/appkeys/decide/<app_token> {"decision": bool, "user"?}` → 204 decides one. An
//! approval issues a real farm API key (`auth.issue-keys`) for the chosen user: `user` of the
//! decision, else the user the app asked for, else the approving admin.
//!
//! For trusted networks the operator may approve requests automatically (plugin config, see
//! `config.schema.json`): `appkeys-auto-approve-user` names the user the keys are issued for,
//! `appkeys-auto-approve-networks` optionally restricts that to client addresses in the given
//! CIDR ranges. `appkeys-request-ttl-secs` is how long an undecided (or approved but not yet
//! collected) request lives (600 s by default).
//!
//! The plugin runs a fresh instance per call, so requests live in `kv` under
//! `appkeys/req/<app_token>`, shared by every printer's mount (a farm key works on all of them).

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use printfarm_sdk::auth::{self, Role};
use printfarm_sdk::{kv, Error, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::{optional, Caller};
use crate::errors::{forbidden, host, json_object};

/// The kv prefix of pending and approved requests.
const PREFIX: &str = "appkeys/req/";
/// How long a request waits for a decision, and an approved key for its collection.
const DEFAULT_TTL_SECS: u64 = 600;
/// The most requests kept at once (older ones are dropped first when listing).
const MAX_REQUESTS: u32 = 1000;
/// The host's limit on key labels.
const MAX_LABEL_BYTES: usize = 200;

/// The plugin configuration keys of this module (`[plugins.octoprint.config]`).
#[derive(Debug, Default, Deserialize)]
struct Config {
    /// Approve every request at once, issuing the key for this farm user.
    #[serde(default, rename = "appkeys-auto-approve-user")]
    auto_approve_user: Option<String>,
    /// Only auto-approve clients from these CIDR ranges (`192.168.1.0/24`, `::1/128`); all when
    /// absent.
    #[serde(default, rename = "appkeys-auto-approve-networks")]
    auto_approve_networks: Option<Vec<String>>,
    /// Lifetime of an undecided or uncollected request.
    #[serde(default, rename = "appkeys-request-ttl-secs")]
    request_ttl_secs: Option<u64>,
}

impl Config {
    fn load() -> Config {
        // Other modules' keys share the object: read only ours, ignore the rest.
        serde_json::from_value(printfarm_sdk::config_json()).unwrap_or_default()
    }

    fn ttl_ms(&self) -> u64 {
        self.request_ttl_secs.unwrap_or(DEFAULT_TTL_SECS) * 1000
    }

    /// The user to approve a request from `remote` for, if it is approved automatically.
    fn auto_approve_for(&self, remote: &str) -> Option<&str> {
        let user = self
            .auto_approve_user
            .as_deref()
            .filter(|u| !u.is_empty())?;
        match &self.auto_approve_networks {
            None => Some(user),
            Some(nets) => {
                let ip = remote_ip(remote)?;
                nets.iter().any(|n| cidr_contains(n, ip)).then_some(user)
            }
        }
    }
}

/// One application's request, as stored in kv.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    app_token: String,
    app: String,
    /// The user the app asked for, if any.
    user: Option<String>,
    /// When it was requested (ms since the epoch).
    requested: u64,
    /// The issued key once approved; `None` while pending.
    #[serde(default)]
    api_key: Option<String>,
    /// When it was decided (ms since the epoch).
    #[serde(default)]
    decided: Option<u64>,
}

impl Pending {
    fn expired(&self, now: u64, ttl_ms: u64) -> bool {
        now.saturating_sub(self.decided.unwrap_or(self.requested)) > ttl_ms
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A 128-bit random token in hex, from the randomness std's hash maps seed themselves with
/// (the host's WASI random source).
fn random_token() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(32);
    for i in 0..2u64 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u64(now_ms());
        out.push_str(&format!("{:016X}", h.finish()));
    }
    out
}

fn key_of(token: &str) -> String {
    format!("{PREFIX}{token}")
}

fn load(token: &str) -> Result<Option<Pending>, Error> {
    if token.is_empty() || token.len() > 64 || !token.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Ok(None);
    }
    // A record that no longer parses is as good as gone.
    Ok(kv::get_json::<Pending>(&key_of(token)).unwrap_or(None))
}

fn store(p: &Pending) -> Result<(), Error> {
    kv::set_json(&key_of(&p.app_token), p).map_err(host)
}

fn remove(token: &str) -> Result<(), Error> {
    kv::delete(&key_of(token)).map_err(host)
}

/// Issues the farm key for an approved request.
fn issue(app: &str, user: &str) -> Result<String, Error> {
    let mut label = format!("{app} (OctoPrint app key)");
    if label.len() > MAX_LABEL_BYTES {
        let mut cut = app
            .len()
            .min(MAX_LABEL_BYTES - " (OctoPrint app key)".len() - 1);
        while !app.is_char_boundary(cut) {
            cut -= 1;
        }
        label = format!("{}… (OctoPrint app key)", &app[..cut]);
        while label.len() > MAX_LABEL_BYTES {
            label = label.replacen('…', "", 1);
        }
    }
    auth::create_api_key(user, &label).map_err(|e| match e {
        printfarm_sdk::HostError::NotFound(m) | printfarm_sdk::HostError::Invalid(m) => {
            Error::bad_request(m)
        }
        other => host(other),
    })
}

/// The caller, who must present a farm admin key; 403 otherwise.
fn require_admin(req: &Request) -> Result<Caller, Error> {
    let caller = optional(req)?.ok_or_else(forbidden)?;
    if caller.identity.role != Role::Admin {
        return Err(forbidden());
    }
    Ok(caller)
}

/// `GET /plugin/appkeys/probe`: 204, the workflow is available.
pub fn probe(_req: &Request) -> Result<Response, Error> {
    Ok(Response::no_content())
}

/// `POST /plugin/appkeys/request {"app", "user"?}`: registers a request (or approves it at once
/// when the config says so) → 201 with the token and the poll URL.
pub fn request(req: &Request) -> Result<Response, Error> {
    // OctoPrint's client libraries all send JSON; be lenient about the content type.
    let data = match json_object(req) {
        Ok(d) => d,
        Err(e) if e.status == 415 => match req.json_any_content_type::<Value>() {
            Ok(Value::Object(d)) => d,
            _ => return Err(e),
        },
        Err(e) => return Err(e),
    };
    let app = match data.get("app") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => return Err(Error::bad_request("No app name provided")),
    };
    let user = match data.get("user") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    };
    let config = Config::load();
    let token = random_token();
    let now = now_ms();
    let mut pending = Pending {
        app_token: token.clone(),
        app,
        user,
        requested: now,
        api_key: None,
        decided: None,
    };
    if let Some(auto_user) = config.auto_approve_for(req.remote_addr()) {
        pending.api_key = Some(issue(&pending.app, auto_user)?);
        pending.decided = Some(now);
    }
    store(&pending)?;
    let poll = req.url_for(&format!("/plugin/appkeys/request/{token}"));
    Ok(Response::created(
        &poll,
        &json!({
            "app_token": token,
            // OctoPrint opens a dialog in its UI; the farm's admins decide through `pending`.
            "auth_dialog": req.url_for("/plugin/appkeys/pending"),
        }),
    ))
}

/// `GET /plugin/appkeys/request/<app_token>`: 202 while pending, 200 with the key once (then
/// the request is gone), 404 when denied, expired or unknown.
pub fn poll(req: &Request) -> Result<Response, Error> {
    let token = req.param_str("app_token").unwrap_or_default().to_string();
    let not_found = || Error::not_found("No pending request for this app token");
    let Some(p) = load(&token)? else {
        return Err(not_found());
    };
    if p.expired(now_ms(), Config::load().ttl_ms()) {
        remove(&token)?;
        return Err(not_found());
    }
    match p.api_key {
        Some(key) => {
            remove(&token)?;
            Ok(Response::ok_json(&json!({ "api_key": key })))
        }
        None => Ok(Response::json(
            202,
            &json!({ "message": "Awaiting decision" }),
        )),
    }
}

/// The undecided requests, oldest first; expired ones are removed on the way.
fn undecided() -> Result<Vec<Pending>, Error> {
    let ttl = Config::load().ttl_ms();
    let now = now_ms();
    let mut out = Vec::new();
    for key in kv::list_keys(PREFIX, MAX_REQUESTS).map_err(host)? {
        let token = &key[PREFIX.len()..];
        let Some(p) = load(token)? else {
            let _ = kv::delete(&key);
            continue;
        };
        if p.expired(now, ttl) {
            remove(token)?;
        } else if p.api_key.is_none() {
            out.push(p);
        }
    }
    out.sort_by_key(|p| p.requested);
    Ok(out)
}

/// `GET /plugin/appkeys/pending` (farm admins): the requests awaiting a decision.
pub fn pending(req: &Request) -> Result<Response, Error> {
    require_admin(req)?;
    let list: Vec<Value> = undecided()?
        .into_iter()
        .map(|p| {
            json!({
                "app_token": p.app_token,
                "app": p.app,
                "user": p.user,
                "requested": p.requested / 1000,
            })
        })
        .collect();
    Ok(Response::ok_json(&json!({ "pending": list })))
}

/// `POST /plugin/appkeys/decide/<app_token> {"decision": bool, "user"?}` (farm admins) → 204.
/// Approval issues a farm key for `user`, else the user the app asked for, else the admin.
pub fn decide(req: &Request) -> Result<Response, Error> {
    let admin = require_admin(req)?;
    let data = json_object(req)?;
    let decision = match data.get("decision") {
        Some(Value::Bool(b)) => *b,
        _ => return Err(Error::bad_request("Expected a boolean \"decision\"")),
    };
    let chosen = match data.get("user") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(_) => return Err(Error::bad_request("\"user\" must be a user name")),
    };
    let token = req.param_str("app_token").unwrap_or_default().to_string();
    let not_found = || Error::not_found("No pending request for this app token");
    let Some(mut p) = load(&token)? else {
        return Err(not_found());
    };
    let now = now_ms();
    if p.expired(now, Config::load().ttl_ms()) {
        remove(&token)?;
        return Err(not_found());
    }
    if p.api_key.is_some() {
        return Err(Error::conflict("This request was already approved"));
    }
    if !decision {
        remove(&token)?;
        return Ok(Response::no_content());
    }
    let user = chosen
        .or_else(|| p.user.clone())
        .unwrap_or_else(|| admin.identity.user.clone());
    p.api_key = Some(issue(&p.app, &user)?);
    p.decided = Some(now);
    store(&p)?;
    Ok(Response::no_content())
}

/// The IP of an `ip:port` (or `[v6]:port`, or bare IP) address.
fn remote_ip(addr: &str) -> Option<IpAddr> {
    if let Ok(sa) = addr.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    addr.trim_matches(|c| c == '[' || c == ']').parse().ok()
}

/// Whether `ip` lies in `cidr` (`10.0.0.0/8`, `fd00::/8`, or a single address).
fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let (net, bits) = match cidr.trim().split_once('/') {
        Some((n, b)) => match b.parse::<u32>() {
            Ok(b) => (n, Some(b)),
            Err(_) => return false,
        },
        None => (cidr.trim(), None),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    // An IPv4 client may show up as an IPv4-mapped IPv6 address.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_match_as_expected() {
        let ip = |s: &str| remote_ip(s).unwrap();
        assert!(cidr_contains("127.0.0.0/8", ip("127.0.0.1:4000")));
        assert!(cidr_contains("192.168.1.0/24", ip("192.168.1.77:1")));
        assert!(!cidr_contains("192.168.1.0/24", ip("192.168.2.77:1")));
        assert!(cidr_contains("0.0.0.0/0", ip("8.8.8.8:53")));
        assert!(cidr_contains("::1", ip("[::1]:80")));
        assert!(cidr_contains("10.0.0.0/8", ip("[::ffff:10.1.2.3]:80")));
        assert!(!cidr_contains("fd00::/8", ip("10.0.0.1:1")));
        assert!(!cidr_contains("nonsense", ip("10.0.0.1:1")));
    }

    #[test]
    fn tokens_are_distinct_hex() {
        let a = random_token();
        let b = random_token();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn auto_approval_follows_the_config() {
        let c: Config = serde_json::from_value(json!({
            "appkeys-auto-approve-user": "ann",
            "appkeys-auto-approve-networks": ["127.0.0.0/8"]
        }))
        .unwrap();
        assert_eq!(c.auto_approve_for("127.0.0.1:5000"), Some("ann"));
        assert_eq!(c.auto_approve_for("192.168.0.2:5000"), None);
        let c = Config::default();
        assert_eq!(c.auto_approve_for("127.0.0.1:5000"), None);
        assert_eq!(c.ttl_ms(), 600_000);
    }

    #[test]
    fn the_workflow_over_the_simulated_kv() {
        let r = Request::builder("GET", "/plugin/appkeys/probe").build();
        assert_eq!(probe(&r).unwrap().status(), 204);
        let r = Request::builder("POST", "/plugin/appkeys/request")
            .json(&json!({"app": "Home Assistant", "user": "ann"}))
            .mount("/octoprint/p1")
            .base_url("http://farm")
            .remote_addr("127.0.0.1:3000")
            .build();
        let resp = request(&r).unwrap();
        assert_eq!(resp.status(), 201);
        let body: Value = resp.body_json().unwrap();
        let token = body["app_token"].as_str().unwrap().to_string();
        assert_eq!(
            resp.header("location").unwrap(),
            format!("http://farm/octoprint/p1/plugin/appkeys/request/{token}")
        );
        let poll_req = Request::builder("GET", "/plugin/appkeys/request/{app_token}")
            .param("app_token", &token)
            .build();
        assert_eq!(poll(&poll_req).unwrap().status(), 202);
        assert_eq!(undecided().unwrap().len(), 1);
        let missing = Request::builder("GET", "/plugin/appkeys/request/{app_token}")
            .param("app_token", "nope")
            .build();
        assert_eq!(poll(&missing).unwrap_err().status, 404);
    }
}
