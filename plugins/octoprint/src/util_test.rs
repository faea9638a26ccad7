//! `POST /api/util/test`: OctoPrint's checks of a path, a URL, a server, a name resolution and
//! the caller's address, which its settings dialogs run before saving (admins only).
//!
//! A plugin sees neither the farm host's file system nor the network beyond its grants, so
//! the path, URL and server checks answer "not reachable from here" (`result: false`) in
//! OctoPrint's shapes; the address check answers from the caller's own address.

use std::net::IpAddr;

use printfarm_sdk::{Error, Request, Response};
use serde_json::{json, Value};

use crate::auth::{self, Access};
use crate::errors;

/// `POST /api/util/test` with `command` `path`, `url`, `server`, `resolution` or `address`.
pub fn run(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Admin)?;
    let cmd = errors::command_with(
        req,
        &[
            ("path", &["path"]),
            ("url", &["url"]),
            ("server", &["host", "port"]),
            ("resolution", &["name"]),
            ("address", &[]),
        ],
    )?;
    let field = |key: &str| cmd.data.get(key).cloned().unwrap_or(Value::Null);
    let answer = match cmd.name.as_str() {
        "path" => json!({
            "path": field("path"),
            "exists": false,
            "typeok": false,
            "access": false,
            "broken_symlink": false,
            "result": false,
        }),
        "url" => json!({"url": field("url"), "status": 0, "result": false}),
        "server" => json!({
            "host": field("host"),
            "port": field("port"),
            "protocol": cmd.data.get("protocol").cloned().unwrap_or(json!("tcp")),
            "result": false,
        }),
        "resolution" => {
            let name = field("name");
            let known = name
                .as_str()
                .is_some_and(|n| n == "localhost" || n.parse::<IpAddr>().is_ok());
            json!({"name": name, "result": known})
        }
        _ => address(req),
    };
    Ok(Response::ok_json(&answer))
}

/// The caller's address, whether it is on a local network, and the usual subnet of its range.
fn address(req: &Request) -> Value {
    let host = req
        .remote_addr()
        .rsplit_once(':')
        .map_or(req.remote_addr(), |(h, _)| h);
    let ip: Option<IpAddr> = host.trim_matches(['[', ']']).parse().ok();
    let (lan, subnet) = match ip {
        Some(IpAddr::V4(v4)) => {
            let prefix = match v4.octets() {
                [127, ..] | [10, ..] => Some(8),
                [172, b, ..] if (16..32).contains(&b) => Some(12),
                [192, 168, ..] => Some(16),
                [169, 254, ..] => Some(16),
                _ => None,
            };
            (prefix.is_some(), prefix.map(|p| format!("{v4}/{p}")))
        }
        Some(IpAddr::V6(v6)) => {
            let local = v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00;
            (local, local.then(|| format!("{v6}/64")))
        }
        None => (false, None),
    };
    json!({"address": host, "is_lan_address": lan, "subnet": subnet})
}
