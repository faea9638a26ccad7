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
//! OctoPrint asks the user in its web UI. The farm keeps the requests in its core (`auth`
//! interface, `auth.issue-keys`): admins list and decide them through the host API
//! (`GET /farm/api/key-requests`, `POST /farm/api/key-requests/{id}`), and an approval yields a
//! real farm API key, created when the application collects it.
//!
//! For trusted networks the operator may approve requests automatically (plugin config, see
//! `config.schema.json`): `appkeys-auto-approve-user` names the user the keys are issued for,
//! `appkeys-auto-approve-networks` optionally restricts that to client addresses in the given
//! CIDR ranges. `appkeys-request-ttl-secs` is how long an undecided (or approved but not yet
//! collected) request lives (600 s by default).

use std::net::IpAddr;

use printfarm_sdk::auth::{self, KeyRequestState};
use printfarm_sdk::{Error, Request, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::errors::{host, json_object};

/// How long a request waits for a decision, and an approved key for its collection.
const DEFAULT_TTL_SECS: u32 = 600;

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
    request_ttl_secs: Option<u32>,
}

impl Config {
    fn load() -> Config {
        // Other modules' keys share the object: read only ours, ignore the rest.
        serde_json::from_value(printfarm_sdk::config_json()).unwrap_or_default()
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

/// `GET /plugin/appkeys/probe`: 204, the workflow is available.
pub fn probe(_req: &Request) -> Result<Response, Error> {
    Ok(Response::no_content())
}

/// `POST /plugin/appkeys/request {"app", "user"?}`: files the request with the farm (approved at
/// once when the config says so) → 201 with the token and the poll URL.
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
    let token = auth::request_api_key(
        &app,
        user.as_deref(),
        req.remote_addr(),
        config.request_ttl_secs.unwrap_or(DEFAULT_TTL_SECS),
        config.auto_approve_for(req.remote_addr()),
    )
    .map_err(host)?;
    let poll = req.url_for(&format!("/plugin/appkeys/request/{token}"));
    Ok(Response::created(
        &poll,
        &json!({
            "app_token": token,
            // OctoPrint opens a dialog in its UI; the farm's admins decide in the host API.
            "auth_dialog": format!("{}/farm/api/key-requests", req.base_url()),
        }),
    ))
}

/// `GET /plugin/appkeys/request/<app_token>`: 202 while pending, 200 with the key once (then
/// the request is gone), 404 when denied, expired or unknown.
pub fn poll(req: &Request) -> Result<Response, Error> {
    let token = req.param_str("app_token").unwrap_or_default();
    match auth::poll_api_key_request(token).map_err(host)? {
        KeyRequestState::Pending => Ok(Response::json(
            202,
            &json!({ "message": "Awaiting decision" }),
        )),
        KeyRequestState::Approved(key) => Ok(Response::ok_json(&json!({ "api_key": key }))),
        KeyRequestState::Gone => Err(Error::not_found("No pending request for this app token")),
    }
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
        assert_eq!(c.request_ttl_secs.unwrap_or(DEFAULT_TTL_SECS), 600);
    }
}
