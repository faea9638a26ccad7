//! The plugin's own routes under its mount (`/obico` by default): which printers are linked and
//! how, and the operator's link, passcode and unlink actions; plus the discovery secret the
//! Obico app fetches from an agent on the LAN. Farm API keys: viewers read, operators act.

use std::net::IpAddr;

use printfarm_sdk::auth::{self, Identity};
use printfarm_sdk::{http, printers, Error, HostError, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::{Config, Server};
use crate::linking::{self, Lan};
use crate::rest::RestError;
use crate::store::{self, Socket};

/// One printer as `GET /api/printers` shows it. Never carries the token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// The farm printer's id.
    pub printer: String,
    /// `unlinked`, `awaiting-passcode`, `linked`, `connected`, `token-used-elsewhere` or `error`.
    pub state: String,
    /// The passcode to type in the Obico app (`awaiting-passcode`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passcode: Option<String>,
    /// When the passcode expires (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passcode_expires_at: Option<String>,
    /// The printer's id on the Obico server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obico_printer_id: Option<i64>,
    /// The printer's name on the Obico server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obico_printer_name: Option<String>,
    /// What went wrong last (a refused token, a failed connection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_at: Option<String>,
}

/// A printer's entry from what the store holds.
pub fn entry(printer: &str, conns: &store::Conns) -> Entry {
    let mut entry = Entry {
        printer: printer.to_string(),
        state: "unlinked".into(),
        passcode: None,
        passcode_expires_at: None,
        obico_printer_id: None,
        obico_printer_name: None,
        error: None,
        error_at: None,
    };
    let Some(link) = store::link(printer) else {
        if let Some(pending) = store::passcode(printer) {
            entry.state = "awaiting-passcode".into();
            entry.passcode = Some(pending.passcode);
            entry.passcode_expires_at = pending.expires_at;
        } else if let Some(why) = store::unlinked(printer) {
            entry.error = Some(why.reason);
            entry.error_at = Some(linking::rfc3339(why.at_ms));
        }
        return entry;
    };
    entry.obico_printer_id = link.obico_id;
    entry.obico_printer_name = link.obico_name;
    let conn = conns
        .get(printer)
        .filter(|c| c.token.as_deref() == Some(&link.token));
    entry.state = match conn.map(|c| c.socket) {
        Some(Socket::Open) => "connected",
        Some(Socket::UsedElsewhere) => "token-used-elsewhere",
        Some(Socket::Closed) if conn.is_some_and(|c| c.error.is_some()) => "error",
        _ => "linked",
    }
    .into();
    if let Some(conn) = conn {
        entry.error = conn.error.clone();
        entry.error_at = conn.error_at_ms.map(linking::rfc3339);
    }
    entry
}

/// The caller (a farm API key, or the dashboard's session for the plugin's page); 401 without
/// either, 403 when `operate` is needed and the role cannot.
fn caller(req: &Request, operate: bool) -> Result<Identity, Error> {
    let who = auth::identify(req)?.ok_or_else(|| match auth::api_key(req) {
        Some(_) => Error::unauthorized("the API key is not valid"),
        None => Error::unauthorized(
            "this route needs a farm API key: send it as `X-Api-Key: <key>` or `Authorization: Bearer <key>`",
        ),
    })?;
    if operate && !who.role.can_operate() {
        return Err(Error::forbidden(format!(
            "user {} is a {}: linking printers needs an operator or admin",
            who.user,
            who.role.as_str()
        )));
    }
    Lan::remember(req.base_url());
    Ok(who)
}

/// The server the plugin talks to now: the one set through `PUT /api/server`, else the config's.
pub fn current_server(config: &Config) -> Result<Server, String> {
    Server::parse(&store::server_override().unwrap_or_else(|| config.server.clone()))
}

fn server_or_500(config: &Config) -> Result<Server, Error> {
    current_server(config).map_err(Error::internal)
}

/// A participating printer, or 404 (unknown) / 409 (left out by the config).
fn participating(config: &Config, id: &str) -> Result<printers::PrinterInfo, Error> {
    let info = printers::get(id).map_err(|e| match e {
        HostError::NotFound(_) => Error::not_found(format!("no printer `{id}` in this farm")),
        other => other.into(),
    })?;
    if !config.includes(id) {
        return Err(Error::conflict(format!(
            "printer `{id}` does not take part in the Obico link: add it to `printers` under [plugins.obico.config]"
        )));
    }
    Ok(info)
}

/// The status and message for a failed call to the Obico server.
fn upstream(e: RestError) -> Error {
    match e {
        RestError::Throttled(_) => Error::new(429, e.to_string()),
        RestError::Transport(_) => Error::new(502, e.to_string()),
        _ => Error::new(502, e.to_string()),
    }
}

/// `GET /api/printers`.
pub fn list(req: &Request) -> Result<Response, Error> {
    caller(req, false)?;
    let config = Config::load();
    let conns = store::conns();
    let entries: Vec<Entry> = printers::list()?
        .into_iter()
        .filter(|p| config.includes(&p.id))
        .map(|p| entry(&p.id, &conns))
        .collect();
    Ok(Response::ok_json(&entries))
}

/// `GET /api/printers/{id}`.
pub fn one(req: &Request) -> Result<Response, Error> {
    caller(req, false)?;
    let config = Config::load();
    let id: String = req.param("id")?;
    participating(&config, &id)?;
    Ok(Response::ok_json(&entry(&id, &store::conns())))
}

/// `POST /api/printers/{id}/link` with `{"code": "123456"}`.
pub fn link(req: &Request) -> Result<Response, Error> {
    caller(req, true)?;
    #[derive(Deserialize)]
    struct Body {
        code: serde_json::Value,
    }
    let body: Body = req.json()?;
    let code = match &body.code {
        serde_json::Value::String(s) => s.trim().to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    if !linking::is_code(&code) {
        return Err(Error::bad_request(format!(
            "`code` must be the 6 digits the Obico app shows (got {})",
            body.code
        )));
    }
    let config = Config::load();
    let id: String = req.param("id")?;
    participating(&config, &id)?;
    let server = server_or_500(&config)?;
    linking::link_with_code(&server, &id, &code).map_err(upstream)?;
    Ok(Response::ok_json(&entry(&id, &store::conns())))
}

/// `DELETE /api/printers/{id}/link`: forgets the token; the socket closes on the next tick.
pub fn unlink(req: &Request) -> Result<Response, Error> {
    caller(req, true)?;
    let config = Config::load();
    let id: String = req.param("id")?;
    participating(&config, &id)?;
    linking::unlink(&id, None);
    Ok(Response::ok_json(&entry(&id, &store::conns())))
}

/// `POST /api/printers/{id}/passcode`: starts the passcode flow and answers the passcode.
pub fn passcode(req: &Request) -> Result<Response, Error> {
    caller(req, true)?;
    let config = Config::load();
    let id: String = req.param("id")?;
    let info = participating(&config, &id)?;
    if store::link(&id).is_some() {
        return Err(Error::conflict(format!(
            "printer `{id}` is linked already: unlink it first (DELETE …/printers/{id}/link)"
        )));
    }
    let server = server_or_500(&config)?;
    linking::start_passcode(&server, &info).map_err(upstream)?;
    Ok(Response::ok_json(&entry(&id, &store::conns())))
}

/// `GET /api/server`: the server in use and where it comes from.
pub fn get_server(req: &Request) -> Result<Response, Error> {
    caller(req, false)?;
    let config = Config::load();
    let server = server_or_500(&config)?;
    let source = if store::server_override().is_some() {
        "api"
    } else {
        "config"
    };
    Ok(Response::ok_json(&json!({
        "server": server.base,
        "websocket": server.websocket,
        "source": source,
    })))
}

/// `PUT /api/server` with `{"server": "http://host:3334"}`: checked against the grants and
/// tested with one call before it is saved. Printers linked to the old server must be linked
/// again (their tokens belong to it); the tick closes their sockets.
pub fn put_server(req: &Request) -> Result<Response, Error> {
    caller(req, true)?;
    #[derive(Deserialize)]
    struct Body {
        server: String,
    }
    let body: Body = req.json()?;
    let server = Server::parse(&body.server).map_err(Error::bad_request)?;
    http::check(&server.base).map_err(|e| Error::bad_request(e.into_message()))?;
    // One anonymous call tells an Obico server from anything else before it is saved.
    let probe = printers::list()?
        .into_iter()
        .next()
        .map(|p| linking::unlinked_body(&p, None, &Lan::load()))
        .unwrap_or_else(
            || json!({"device_id": crate::clock::random_hex(16), "host_or_ip": "127.0.0.1"}),
        );
    match crate::rest::unlinked(&server, &probe) {
        Ok(answer) if answer.get("messages").is_some() => {}
        Ok(_) => {
            return Err(Error::bad_request(format!(
                "{} answered, but not as an Obico server does (no `messages` in its answer to /api/v1/octo/unlinked/)",
                server.base
            )))
        }
        Err(RestError::Throttled(_)) => {}
        Err(e) => {
            return Err(Error::bad_request(format!(
                "{} is not usable as an Obico server: {e}",
                server.base
            )))
        }
    }
    store::save_server_override(&server.base)?;
    linking::reset_polling();
    Ok(Response::ok_json(&json!({
        "server": server.base,
        "websocket": server.websocket,
        "source": "api",
    })))
}

/// Whether an address is on a private network (or this machine): only such callers may read a
/// printer's discovery secret, as the agents allow.
pub fn is_private(addr: &str) -> bool {
    let ip = addr
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| addr.trim_matches(['[', ']']).parse::<IpAddr>());
    match ip {
        Ok(IpAddr::V4(v4)) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        Ok(IpAddr::V6(v6)) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4.is_private() || v4.is_loopback() || v4.is_link_local();
            }
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
        Err(_) => false,
    }
}

/// `GET /plugin/obico/grab-discovery-secret?device_id=…`: the Obico app, on the same network,
/// proves it can reach the printer. The app opens it in a pop-up and waits for a message, so a
/// browser gets a page that posts the secret to its opener; other clients get JSON.
pub fn discovery_secret(req: &Request) -> Result<Response, Error> {
    if !is_private(req.remote_addr()) {
        return Err(Error::forbidden(
            "the discovery secret is only given to callers on the local network",
        ));
    }
    let device_id = req
        .query_param("device_id")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| Error::bad_request("`device_id` is missing from the query"))?;
    let printer = store::printer_of_device(&device_id)
        .filter(|p| store::link(p).is_none())
        .ok_or_else(|| Error::not_found("no unlinked printer of this farm has that device id"))?;
    let secret = store::device(&printer).secret;
    let wants_html = req
        .header("accept")
        .is_some_and(|a| a.contains("text/html"));
    let response = if wants_html {
        let data = json!({"device_secret": secret}).to_string();
        Response::html(
            200,
            format!(
                "<!doctype html><title>printfarm: Obico discovery</title>\
                 <p>Linking {printer}…</p>\
                 <script>if (window.opener) {{ window.opener.postMessage({data}, '*'); }}</script>"
            ),
        )
    } else {
        Response::ok_json(&json!({ "device_secret": secret }))
    };
    Ok(response.with_header("access-control-allow-origin", "*"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_network_callers_are_private() {
        for addr in [
            "10.1.2.3:5000",
            "192.168.0.7:1",
            "172.20.0.1:80",
            "127.0.0.1:9",
            "[::1]:80",
            "[fd00::1]:80",
            "[fe80::1]:80",
            "[::ffff:192.168.1.2]:80",
        ] {
            assert!(is_private(addr), "{addr}");
        }
        for addr in [
            "8.8.8.8:53",
            "[2001:db8::1]:80",
            "172.32.0.1:80",
            "nonsense",
        ] {
            assert!(!is_private(addr), "{addr}");
        }
    }

    #[test]
    fn an_entry_never_shows_the_token_and_says_why_a_printer_was_unlinked() {
        printfarm_sdk::testing::reset();
        store::save_link(
            "p1",
            &store::Link {
                token: "0123456789abcdef0123".into(),
                server: "http://x".into(),
                obico_id: Some(7),
                obico_name: Some("Seven".into()),
                linked_at_ms: 1,
            },
        )
        .unwrap();
        let e = entry("p1", &store::Conns::new());
        assert_eq!(e.state, "linked");
        assert!(!serde_json::to_string(&e)
            .unwrap()
            .contains("0123456789abcdef0123"));
        linking::unlink("p1", Some("deleted on the server".into()));
        let e = entry("p1", &store::Conns::new());
        assert_eq!(e.state, "unlinked");
        assert_eq!(e.error.as_deref(), Some("deleted on the server"));
    }
}
