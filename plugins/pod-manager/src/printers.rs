//! `/api/printers/…`: the pod's printers are the farm's printers, each reached through the
//! OctoPrint surface (plugin `octoprint`).
//!
//! Ids are the farm printer ids, strings (`"v1"`), where the original used integers: clients
//! treat them as opaque (they only build URLs and transfer lists from them), and one id
//! everywhere (host API, OctoPrint mount, here) is worth more than a second numbering.
//!
//! `url` is the printer's OctoPrint-compatible base URL: the request's base URL followed by the
//! OctoPrint mount (`http://farm:8080/octoprint/v1`), or one port per printer when the operator
//! configured `octoprint-first-port` (`http://farm:5001`, as the original pod's
//! `http://series1-10002:5001`). `hostname` and `port` are that URL's.
//!
//! `/api/printers/{id}/{path…}` was a proxy to the printer's OctoPrint. A plugin cannot call
//! another plugin (and outbound HTTP to ourselves would need the operator to allow-list our own
//! address), so it answers `307 Temporary Redirect` to `<url>/<path>`: 307 keeps the method and
//! body, and "temporary" because the mount may be reconfigured. The client must send OctoPrint
//! credentials (`X-Api-Key`) there: the session cookie is not an OctoPrint credential.

use printfarm_sdk::printers::{self, PrinterInfo};
use printfarm_sdk::{Error, Request, Response};
use serde_json::{json, Value};

use crate::auth;
use crate::config::{self, Config};
use crate::drf;

/// Where one printer's OctoPrint surface answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surface {
    /// Its base URL, without a trailing slash.
    pub url: String,
    /// The host part.
    pub hostname: String,
    /// The port.
    pub port: u16,
}

/// Scheme, host and port of `scheme://host[:port]`.
pub fn split_base(base: &str) -> (String, String, u16) {
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let rest = rest.split('/').next().unwrap_or("");
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    // `[::1]:8080`: the port follows the closing bracket.
    let (host, port) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains(']') => {
            (&rest[..i], rest[i + 1..].parse().unwrap_or(default_port))
        }
        _ => (rest, default_port),
    };
    (scheme.to_string(), host.to_string(), port)
}

/// The OctoPrint surface of printer `id`, the `index`-th in config order, for clients that
/// reach us at `base` (`scheme://host[:port]`).
pub fn surface(base: &str, id: &str, index: usize, cfg: &Config) -> Surface {
    let (scheme, hostname, port) = split_base(base);
    match cfg.octoprint_first_port {
        Some(first) => {
            let port = first.saturating_add(index as u16);
            Surface {
                url: format!("{scheme}://{hostname}:{port}"),
                hostname,
                port,
            }
        }
        None => Surface {
            url: format!(
                "{}{}",
                base.trim_end_matches('/'),
                cfg.octoprint_mount.replace("{printer}", id)
            ),
            hostname,
            port,
        },
    }
}

/// The surface of every printer, by id, in config order.
pub fn surfaces(base: &str) -> Result<Vec<(PrinterInfo, Surface)>, Error> {
    let cfg = config::get();
    Ok(printers::list()?
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let s = surface(base, &p.id, i, &cfg);
            (p, s)
        })
        .collect())
}

/// One printer as the Pod Manager lists it.
pub fn printer_json(req: &Request, p: &PrinterInfo, s: &Surface) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "restUrl": format!("{}/api/printers/{}/", req.base_url(), encode_path(&p.id)),
        "url": s.url,
        "hostname": s.hostname,
        "port": s.port,
    })
}

/// `GET /api/printers/`: a bare array, as the original (no pagination envelope).
pub fn list(req: &Request) -> Result<Response, Error> {
    auth::require(req)?;
    let items: Vec<Value> = surfaces(req.base_url())?
        .iter()
        .map(|(p, s)| printer_json(req, p, s))
        .collect();
    Ok(Response::ok_json(&items))
}

/// The printer named by the `id` parameter and its surface; DRF's 404 otherwise.
fn find(req: &Request) -> Result<(PrinterInfo, Surface), Error> {
    let id = req.param_str("id").unwrap_or_default();
    surfaces(req.base_url())?
        .into_iter()
        .find(|(p, _)| p.id == id)
        .ok_or_else(|| Error::not_found(drf::NOT_FOUND))
}

/// `GET /api/printers/{id}/`.
pub fn get(req: &Request) -> Result<Response, Error> {
    auth::require(req)?;
    let (p, s) = find(req)?;
    Ok(Response::ok_json(&printer_json(req, &p, &s)))
}

/// `/api/printers/{id}/{path…}`: a 307 to the same path on the printer's OctoPrint surface.
pub fn proxy(req: &Request) -> Result<Response, Error> {
    auth::require_any(req)?;
    let (_, s) = find(req)?;
    let path = req.param_str("path").unwrap_or_default();
    let mut location = format!("{}/{}", s.url, encode_path(path));
    if !req.query_string().is_empty() {
        location.push('?');
        location.push_str(req.query_string());
    }
    Ok(Response::empty(307).with_header("location", &location))
}

/// Percent-encodes what may not appear raw in a URL path (the host hands parameters decoded).
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surfaces_follow_mount_or_ports() {
        let cfg = Config::default();
        let s = surface("http://127.0.0.1:8080", "v1", 0, &cfg);
        assert_eq!(s.url, "http://127.0.0.1:8080/octoprint/v1");
        assert_eq!((s.hostname.as_str(), s.port), ("127.0.0.1", 8080));
        let s = surface("https://farm.example", "v2", 1, &cfg);
        assert_eq!(s.url, "https://farm.example/octoprint/v2");
        assert_eq!(s.port, 443);
        let ports = Config {
            octoprint_first_port: Some(5000),
            ..Config::default()
        };
        let s = surface("http://[::1]:8080", "v2", 1, &ports);
        assert_eq!(s.url, "http://[::1]:5001");
        assert_eq!((s.hostname.as_str(), s.port), ("[::1]", 5001));
    }

    #[test]
    fn paths_are_encoded() {
        assert_eq!(
            encode_path("api/files/local/a b#.gcode"),
            "api/files/local/a%20b%23.gcode"
        );
    }
}
