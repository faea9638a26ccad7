//! The status websocket, `/ws/status`: what the original's aiohttp multiplexer did, every
//! printer's OctoPrint push messages on one socket, each with the printer's OctoPrint `host` and
//! `port` and a `timestamp` (Unix seconds) added, plus `printer` (its id) and `url` (its OctoPrint
//! base URL): with the OctoPrint surface mounted per path, every printer shares one host and
//! port, so those alone no longer tell printers apart.
//!
//! Messages, as OctoPrint shapes them:
//! * `{"current": {state, job, progress, temps, currentZ, logs, messages}, …}` for a printer
//!   whose state, temperatures or progress changed (at most once per timer tick, 1 s), and for
//!   every printer at least every [`KEEPALIVE_MS`] and once when the socket opens;
//! * `{"event": {"type": "PrintStarted", "payload": {name, path, origin}}, …}` at once for
//!   print events (`PrintStarted`, `PrintPaused`, `PrintResumed`, `PrintDone`, `PrintFailed`,
//!   `PrintCancelled`) and `PrinterStateChanged`.
//!
//! Authentication: the `sessionid` cookie of a login, or `?token=<farm API key>`; other sockets
//! are refused (close 1008) with DRF's message. Browsers cannot set headers on websockets, hence
//! the query parameter; the CSRF check does not apply (the socket changes nothing).
//!
//! kv: `ws/conn/<id>` per socket (its user and the base URL it reached us at, for host/port)
//! and `ws/feed` (per printer: a change counter the events bump, the counter the last `current`
//! reflected, and when it went out). Hooks run one at a time, so these read-modify-writes do not
//! race.

use std::collections::BTreeMap;

use printfarm_sdk::auth as farm_auth;
use printfarm_sdk::events::{Event, PrintChanged, StateChanged};
use printfarm_sdk::kv;
use printfarm_sdk::printers::{self, PrinterInfo};
use printfarm_sdk::push::{self, Connection, ConnectionId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::config;
use crate::drf;
use crate::printers::{surface, Surface};
use crate::printlogs::event_name;
use crate::sessions::{cookie_in, SESSION_COOKIE};
use crate::time::{now_micros, now_ms};

/// Every printer gets a `current` at least this often, changed or not.
pub const KEEPALIVE_MS: u64 = 10_000;

/// What the plugin keeps per socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnState {
    /// The farm user.
    pub user: String,
    /// `scheme://host[:port]` the client reached us at.
    pub base: String,
}

/// Per printer: changes seen and sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FeedEntry {
    /// Bumped by every event about the printer.
    pub version: u64,
    /// The version the last broadcast `current` reflected.
    pub sent: u64,
    /// When it went out, Unix ms.
    pub sent_ms: u64,
}

/// The feed of every printer.
pub type Feed = BTreeMap<String, FeedEntry>;

fn conn_key(id: ConnectionId) -> String {
    format!("ws/conn/{id}")
}

fn load_feed() -> Feed {
    kv::get_json("ws/feed").ok().flatten().unwrap_or_default()
}

fn save_feed(feed: &Feed) {
    if let Err(e) = kv::set_json("ws/feed", feed) {
        printfarm_sdk::warn!("pod-manager status: cannot store the feed: {e}");
    }
}

/// The user of a socket: a live session from the cookie, or an API key from `?token=`.
fn authenticate(conn: &Connection) -> Option<String> {
    let headers = conn
        .headers
        .iter()
        .filter(|h| h.name == "cookie")
        .map(|h| h.value.as_str());
    if let Some(session) = cookie_in(headers, SESSION_COOKIE) {
        if let Ok(Some(identity)) = farm_auth::check_session(&session) {
            return Some(identity.user);
        }
    }
    let token = conn.query_param("token").filter(|t| !t.is_empty())?;
    farm_auth::verify_api_key(&token)
        .ok()
        .flatten()
        .map(|i| i.user)
}

/// The base URL a socket's client used: its `Host` header; the scheme from a proxy's
/// `X-Forwarded-Proto`, else plain http (the host serves plain HTTP itself).
fn base_of(conn: &Connection) -> String {
    let host = conn.header("host").unwrap_or("localhost");
    let scheme = match conn.header("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

/// Accepts an authenticated socket and sends it every printer's `current` at once.
pub fn on_open(conn: &Connection) -> Result<(), String> {
    let user = authenticate(conn).ok_or_else(|| drf::NOT_AUTHENTICATED.to_string())?;
    let state = ConnState {
        user,
        base: base_of(conn),
    };
    kv::set_json(&conn_key(conn.id), &state).map_err(|e| e.to_string())?;
    let printers = printers::list().map_err(|e| e.to_string())?;
    let cfg = config::get();
    for (i, p) in printers.iter().enumerate() {
        let s = surface(&state.base, &p.id, i, &cfg);
        let _ = push::send_text(
            conn.id,
            &stamped(json!({"current": current(p)}), &p.id, &s).to_string(),
        );
    }
    Ok(())
}

/// Forgets a closed socket.
pub fn on_close(conn: ConnectionId) {
    let _ = kv::delete(&conn_key(conn));
}

/// Adds what the multiplexer adds to a printer's message.
pub fn stamped(mut message: Value, printer: &str, s: &Surface) -> Value {
    if let Value::Object(m) = &mut message {
        m.insert("printer".into(), json!(printer));
        m.insert("url".into(), json!(s.url));
        m.insert("host".into(), json!(s.hostname));
        m.insert("port".into(), json!(s.port));
        m.insert("timestamp".into(), json!(now_micros() as f64 / 1_000_000.0));
    }
    message
}

/// OctoPrint's `current` payload for a printer.
pub fn current(p: &PrinterInfo) -> Value {
    let s = p.state;
    let flags = s.octoprint_flags();
    let mut temps = Map::new();
    temps.insert("time".into(), json!(now_ms() / 1000));
    for t in &p.temperatures {
        temps.insert(
            t.sensor.clone(),
            json!({"actual": t.actual, "target": t.target}),
        );
    }
    let (job, progress) = match &p.progress {
        Some(pr) => {
            let name = pr.file.rsplit('/').next().unwrap_or(&pr.file);
            (
                json!({"file": {"name": name, "path": pr.file, "origin": "local", "size": pr.file_size}}),
                json!({
                    "completion": pr.fraction() * 100.0,
                    "filepos": pr.file_pos,
                    "printTime": pr.elapsed_secs,
                    "printTimeLeft": pr.remaining_secs,
                }),
            )
        }
        None => (
            json!({"file": {"name": null, "path": null, "origin": null, "size": null}}),
            json!({"completion": null, "filepos": null, "printTime": null, "printTimeLeft": null}),
        ),
    };
    json!({
        "state": {"text": s.octoprint_text(), "flags": flags, "error": p.state_reason},
        "job": job,
        "progress": progress,
        "currentZ": null,
        "temps": [Value::Object(temps)],
        "logs": [],
        "messages": [],
    })
}

/// OctoPrint `event` messages for a core event (none for those that only change `current`).
pub fn translate(event: &Event) -> Option<Value> {
    let (kind, payload) = match event {
        Event::Print(PrintChanged {
            phase,
            file,
            elapsed_secs,
            reason,
            ..
        }) => {
            let name = file.rsplit('/').next().unwrap_or(file);
            let mut payload =
                json!({"name": name, "path": file, "origin": "local", "time": elapsed_secs});
            if let Some(r) = reason {
                payload["reason"] = json!(r);
            }
            (event_name(*phase), payload)
        }
        Event::PrinterState(StateChanged { current, .. }) => (
            "PrinterStateChanged",
            json!({"state_id": current.as_str().to_ascii_uppercase(), "state_string": current.octoprint_text()}),
        ),
        _ => return None,
    };
    Some(json!({"event": {"type": kind, "payload": payload}}))
}

/// Every open socket with its state.
fn sockets() -> Vec<(ConnectionId, ConnState)> {
    push::connections(None)
        .into_iter()
        .filter_map(|c| {
            kv::get_json::<ConnState>(&conn_key(c.id))
                .ok()
                .flatten()
                .map(|s| (c.id, s))
        })
        .collect()
}

/// Sends `message` about printer `id` (the `index`-th) to every socket, stamped for each.
fn broadcast(sockets: &[(ConnectionId, ConnState)], message: &Value, id: &str, index: usize) {
    let cfg = config::get();
    for (conn, state) in sockets {
        let s = surface(&state.base, id, index, &cfg);
        let _ = push::send_text(*conn, &stamped(message.clone(), id, &s).to_string());
    }
}

/// A core event: print and state events go out at once; every event marks its printer changed
/// for the next tick. Nothing (beyond one host call) happens while nobody listens.
pub fn on_event(event: Event) {
    let Some(printer) = event.printer().map(str::to_string) else {
        return;
    };
    if push::connections(None).is_empty() {
        return;
    }
    let mut feed = load_feed();
    feed.entry(printer.clone()).or_default().version += 1;
    save_feed(&feed);
    if let Some(message) = translate(&event) {
        let index = printers::list()
            .ok()
            .and_then(|ps| ps.iter().position(|p| p.id == printer))
            .unwrap_or(0);
        broadcast(&sockets(), &message, &printer, index);
    }
}

/// The timer: a `current` for every printer that changed since the last one, or whose keepalive
/// is due.
pub fn on_tick() {
    if push::connections(None).is_empty() {
        return;
    }
    let socks = sockets();
    if socks.is_empty() {
        return;
    }
    let Ok(printers) = printers::list() else {
        return;
    };
    let now = now_ms();
    let mut feed = load_feed();
    let mut changed = false;
    for (i, p) in printers.iter().enumerate() {
        let entry = feed.entry(p.id.clone()).or_default();
        if entry.version != entry.sent || now.saturating_sub(entry.sent_ms) >= KEEPALIVE_MS {
            broadcast(&socks, &json!({"current": current(p)}), &p.id, i);
            entry.sent = entry.version;
            entry.sent_ms = now;
            changed = true;
        }
    }
    if changed {
        save_feed(&feed);
    }
}

/// Deletes socket states whose socket is gone (closed without the close hook, e.g. at a restart).
pub fn sweep() {
    let open: Vec<ConnectionId> = push::connections(None).iter().map(|c| c.id).collect();
    let Ok(keys) = kv::list_keys("ws/conn/", 200) else {
        return;
    };
    for key in keys {
        let id = key.rsplit('/').next().and_then(|id| id.parse::<u64>().ok());
        if !id.is_some_and(|id| open.contains(&id)) {
            let _ = kv::delete(&key);
        }
    }
}
