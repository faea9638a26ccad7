//! `/managers`: the farm's own host node, always online, and the external brender managers that
//! registered with `POST /managers` (they get tasks by push, see [`crate::dispatch`]).

use std::hash::{BuildHasher, Hasher};

use printfarm_sdk::http::{self, OutboundRequest};
use printfarm_sdk::{host_info, Error, Request, Response};
use serde_json::{json, Map, Value};

use crate::access;
use crate::answers;
use crate::args::Args;
use crate::state::{Farm, Manager};

/// The manager id of the farm's own printers. External managers get ids from 2 on.
pub const LOCAL_MANAGER: i64 = 1;

/// How long `GET /managers` waits for an external manager to answer its probe.
const PROBE_TIMEOUT_MS: u32 = 1_000;

/// `GET /managers`: `{name: {id, name, ip_address, port, connection}}`, the farm's node first.
pub fn list(req: &Request) -> Result<Response, Error> {
    access::reader(req)?;
    let farm = Farm::load()?;
    let mut out = Map::new();
    let node = host_info().node;
    let (ip, port) = own_address(req.base_url());
    out.insert(
        node.clone(),
        json!({
            "id": LOCAL_MANAGER,
            "name": node,
            "ip_address": ip,
            "port": port,
            "connection": "online",
            "total_workers": printfarm_sdk::printers::list().map(|p| p.len()).unwrap_or(0),
            "has_virtual_workers": 0,
        }),
    );
    for m in farm.managers.values() {
        out.insert(
            m.name.clone(),
            json!({
                "id": m.id,
                "name": m.name,
                "ip_address": m.ip,
                "port": m.port,
                "connection": if reachable(m) { "online" } else { "offline" },
                "total_workers": m.total_workers,
                "has_virtual_workers": u8::from(m.has_virtual_workers),
            }),
        );
    }
    Ok(Response::ok_json(&Value::Object(out)))
}

/// Whether a manager answers HTTP at all (the original counted even its 404 on `/` as online).
/// A manager the operator has not granted outbound HTTP to is offline: nothing could reach it.
fn reachable(m: &Manager) -> bool {
    let url = format!("{}/", m.url());
    http::check(&url).is_ok()
        && http::send(OutboundRequest::get(&url).with_timeout_ms(PROBE_TIMEOUT_MS)).is_ok()
}

/// The host and port clients reach this server at, from `scheme://host[:port]`.
fn own_address(base_url: &str) -> (String, u16) {
    let rest = base_url.split("://").nth(1).unwrap_or(base_url);
    let default_port = if base_url.starts_with("https") {
        443
    } else {
        80
    };
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || rest.starts_with('[') => (
            host.trim_matches(['[', ']']).to_string(),
            port.parse().unwrap_or(default_port),
        ),
        _ => (rest.to_string(), default_port),
    }
}

/// `POST /managers {port, name, has_virtual_workers}`: 200 `{uuid}`; the same address and port
/// get the same uuid again.
pub fn register(req: &Request) -> Result<Response, Error> {
    access::operator(req)?;
    let args = Args::of(req)?;
    let port = args
        .int("port")?
        .ok_or_else(|| Error::bad_request("`port` is required: the port the manager listens on"))?;
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| Error::bad_request(format!("`port` {port} is not a TCP port")))?;
    let virtual_workers = args.int("has_virtual_workers")?.unwrap_or(0) != 0;
    let ip = crate::args::ip_of(req.remote_addr()).to_string();
    let name = args
        .str("name")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("{ip}:{port}"));
    let mut farm = Farm::load()?;
    let existing = farm
        .managers
        .values_mut()
        .find(|m| m.ip == ip && m.port == port);
    let uuid = match existing {
        Some(m) => {
            m.name = name;
            m.has_virtual_workers = virtual_workers;
            m.uuid.clone()
        }
        None => {
            farm.last_manager = farm.last_manager.max(LOCAL_MANAGER) + 1;
            let id = farm.last_manager;
            let uuid = new_uuid(&ip, port, id);
            farm.managers.insert(
                id,
                Manager {
                    id,
                    uuid: uuid.clone(),
                    name,
                    ip,
                    port,
                    has_virtual_workers: virtual_workers,
                    total_workers: None,
                },
            );
            uuid
        }
    };
    crate::dispatch::step(&mut farm)?;
    farm.save()?;
    Ok(Response::ok_json(&json!({ "uuid": uuid })))
}

/// `PATCH /managers/{uuid} {total_workers}`: 200 `{total_workers}`; an unknown uuid is a 404.
pub fn update(req: &Request) -> Result<Response, Error> {
    access::operator(req)?;
    let args = Args::of(req)?;
    let workers = args.int("total_workers")?;
    let uuid = req.param_str("uuid").unwrap_or_default();
    let mut farm = Farm::load()?;
    let Some(m) = farm.managers.values_mut().find(|m| m.uuid == uuid) else {
        return Ok(answers::missing(req));
    };
    if let Some(w) = workers {
        if w < 0 {
            return Err(Error::bad_request("`total_workers` cannot be negative"));
        }
        m.total_workers = Some(w);
    }
    let total = m.total_workers;
    // More workers may take tasks that were waiting.
    crate::dispatch::step(&mut farm)?;
    farm.save()?;
    Ok(Response::ok_json(&json!({ "total_workers": total })))
}

/// 32 hex digits, like the original's `uuid1().hex`: unique per registration.
fn new_uuid(ip: &str, port: u16, id: i64) -> String {
    let mut out = String::with_capacity(32);
    for round in 0..2u8 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write(ip.as_bytes());
        h.write_u16(port);
        h.write_i64(id);
        h.write_u64(crate::now_ms());
        h.write_u8(round);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(
            own_address("http://127.0.0.1:8080"),
            ("127.0.0.1".into(), 8080)
        );
        assert_eq!(own_address("http://farm"), ("farm".into(), 80));
        assert_eq!(own_address("http://[::1]:9"), ("::1".into(), 9));
        assert_eq!(crate::args::ip_of("10.0.0.5:4000"), "10.0.0.5");
        assert_eq!(crate::args::ip_of("[::1]:4000"), "::1");
        assert_eq!(new_uuid("a", 1, 2).len(), 32);
    }
}
