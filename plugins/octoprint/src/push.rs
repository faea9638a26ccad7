//! OctoPrint's push channel: SockJS over a raw websocket at
//! `/sockjs/<server>/<session>/websocket`, plus `GET /sockjs/info`.
//!
//! No hook can count on memory left by another (instances are fresh or reused at the host's
//! choice), so everything a connection needs between calls lives in kv, kept small:
//!
//! * `push/conn/<id>`: one [`ConnState`] per connection (printer, user once authenticated,
//!   throttle, when the last `current` and heartbeat went out, what it has seen).
//! * `push/printer/<id>`: one [`PrinterFeed`] per printer that has listeners: a version counter
//!   that events bump (so the timer knows whether a `current` is worth building) and the last
//!   few serial log lines with sequence numbers (so each connection gets each line once).
//!
//! Events (`on_event`) go out at once as OctoPrint `event` messages; `current` messages and
//! heartbeats go out from the plugin timer (`on_tick`), which is also where throttling happens.
//! The host delivers hooks one at a time, so the read-modify-write of these keys cannot race
//! with another hook.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use printfarm_sdk::auth::{self as farm_auth, Role};
use printfarm_sdk::events::{
    Event, FileChange, FileChanged, LogLine, PrintChanged, PrintPhase, StateChanged,
};
use printfarm_sdk::files;
use printfarm_sdk::printers::{self, PrinterInfo, PrinterState, Temperature};
use printfarm_sdk::push::{self, Connection, ConnectionId, Message};
use printfarm_sdk::{kv, Error, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::settings::OCTOPRINT_VERSION;
use crate::{files as octo_files, job, printer};

/// The plugin timer's period (`timer-interval-ms` in plugin.toml), which is also OctoPrint's
/// base rate for `current` messages: `{"throttle": n}` means one every `n` periods.
pub const BASE_INTERVAL_MS: u64 = 500;
/// SockJS sends a heartbeat frame this often so proxies and clients keep the socket open.
pub const HEARTBEAT_MS: u64 = 25_000;
/// Even when nothing changed, a `current` goes out this often, so clients see that the
/// printer is still there (and pick up changes no event announces, like a new selection).
pub const KEEPALIVE_MS: u64 = 5_000;
/// OctoPrint accepts throttle factors up to this.
const MAX_THROTTLE: u32 = 60;
/// Serial log lines kept per printer for `current.logs`; older lines are dropped, so the kv
/// value stays far below the value size limit.
const MAX_LOG_LINES: usize = 50;
/// Longest log line kept (longer ones are cut), for the same reason.
const MAX_LOG_LINE_BYTES: usize = 300;
/// Temperature samples in the `history` message (OctoPrint keeps a similar window).
const HISTORY_SAMPLES: u32 = 300;
/// Slack when deciding whether a throttled `current` is due: timer ticks jitter by a few ms, and
/// a tick that arrives a little early must not push the message a whole period later.
const TICK_SLACK_MS: u64 = 100;
/// How often the timer sweeps connection states that no open socket owns any more (a socket
/// whose close hook never ran, e.g. when the server stopped).
const SWEEP_MS: u64 = 60_000;
/// Connection states looked at per sweep, so one tick stays within the plugin's deadline.
const SWEEP_BATCH: u32 = 200;

/// What the plugin remembers about one push connection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnState {
    /// The printer of the mount the socket was opened on.
    pub printer: String,
    /// The authenticated user; `None` until a valid `auth` message arrived.
    #[serde(default)]
    pub user: Option<String>,
    /// OctoPrint's throttle factor (1 = a `current` every [`BASE_INTERVAL_MS`]).
    pub throttle: u32,
    /// When the last `current` (or `history`) went out, Unix ms.
    #[serde(default)]
    pub last_current_ms: u64,
    /// When the last heartbeat (or the open frame) went out, Unix ms.
    pub last_heartbeat_ms: u64,
    /// The printer feed version the last `current` reflected.
    #[serde(default)]
    pub seen_version: u64,
    /// The sequence number of the last log line sent.
    #[serde(default)]
    pub log_seq: u64,
}

impl ConnState {
    /// Whether a SockJS heartbeat frame is due at `now`.
    pub fn heartbeat_due(&self, now: u64) -> bool {
        now.saturating_sub(self.last_heartbeat_ms) >= HEARTBEAT_MS
    }

    /// Whether a `current` message is due at `now`, given the printer feed's `version`: only for
    /// authenticated sockets, at most once per throttle period, and only when something changed
    /// or the keepalive interval passed.
    pub fn current_due(&self, now: u64, version: u64) -> bool {
        if self.user.is_none() {
            return false;
        }
        let elapsed = now.saturating_sub(self.last_current_ms);
        let period = BASE_INTERVAL_MS * u64::from(self.throttle.max(1));
        if elapsed + TICK_SLACK_MS < period {
            return false;
        }
        version != self.seen_version || elapsed >= KEEPALIVE_MS
    }
}

/// What the plugin keeps per printer with listeners: a change counter and recent log lines.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PrinterFeed {
    /// Bumped by every event about the printer.
    pub version: u64,
    /// The sequence number of the newest log line (0 = none yet).
    pub log_seq: u64,
    /// The newest log lines, oldest first; the last one has sequence number `log_seq`.
    pub logs: Vec<String>,
}

impl PrinterFeed {
    /// Appends a log line, dropping the oldest beyond [`MAX_LOG_LINES`].
    pub fn push_log(&mut self, line: &str) {
        let mut line = line.to_string();
        if line.len() > MAX_LOG_LINE_BYTES {
            let mut cut = MAX_LOG_LINE_BYTES;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
        }
        self.logs.push(line);
        if self.logs.len() > MAX_LOG_LINES {
            let excess = self.logs.len() - MAX_LOG_LINES;
            self.logs.drain(..excess);
        }
        self.log_seq += 1;
        self.version += 1;
    }

    /// The lines newer than sequence number `seen`.
    pub fn logs_after(&self, seen: u64) -> &[String] {
        let newer = self.log_seq.saturating_sub(seen) as usize;
        let start = self.logs.len().saturating_sub(newer);
        &self.logs[start..]
    }
}

/// Now, Unix ms (WASI's wall clock).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn conn_key(id: ConnectionId) -> String {
    format!("push/conn/{id}")
}

fn feed_key(printer: &str) -> String {
    format!("push/printer/{printer}")
}

fn load_conn(id: ConnectionId) -> Option<ConnState> {
    kv::get_json(&conn_key(id)).ok().flatten()
}

fn save_conn(id: ConnectionId, state: &ConnState) {
    if let Err(e) = kv::set_json(&conn_key(id), state) {
        printfarm_sdk::warn!("octoprint push: cannot store state of connection {id}: {e}");
    }
}

fn load_feed(printer: &str) -> PrinterFeed {
    kv::get_json(&feed_key(printer))
        .ok()
        .flatten()
        .unwrap_or_default()
}

fn save_feed(printer: &str, feed: &PrinterFeed) {
    if let Err(e) = kv::set_json(&feed_key(printer), feed) {
        printfarm_sdk::warn!("octoprint push: cannot store the feed of {printer}: {e}");
    }
}

/// A SockJS message frame carrying OctoPrint messages (objects inside the `a` array).
pub fn frame(messages: &[Value]) -> String {
    format!("a{}", Value::Array(messages.to_vec()))
}

/// Sends one OctoPrint message; a failure means the socket closed meanwhile, which its close
/// hook cleans up.
fn send(conn: ConnectionId, message: Value) {
    let _ = push::send_text(conn, &frame(&[message]));
}

/// `GET /sockjs/info`: SockJS's capability probe, open without a key as in OctoPrint.
pub fn info(_req: &Request) -> Result<Response, Error> {
    use std::hash::{BuildHasher, Hasher};
    // SockJS clients only need some entropy; the std hasher's random keys (from WASI's random
    // source) give it without another dependency.
    let entropy = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish() as u32;
    Ok(Response::ok_json(&json!({
        "websocket": true,
        "cookie_needed": false,
        "origins": ["*:*"],
        "entropy": entropy,
    })))
}

/// OctoPrint's `connected` message: what a client learns before it authenticates.
pub fn connected_message() -> Value {
    let permissions: Vec<Value> = crate::auth::permissions(Role::Admin)
        .into_iter()
        .map(|p| {
            json!({
                "key": p,
                "name": p,
                "dangerous": matches!(p, "ADMIN" | "SETTINGS" | "SYSTEM"),
                "default_groups": [],
                "description": "",
                "needs": {"role": [p.to_ascii_lowercase()]},
            })
        })
        .collect();
    json!({"connected": {
        "apikey": null,
        "version": OCTOPRINT_VERSION,
        "display_version": OCTOPRINT_VERSION,
        "branch": null,
        // Clients reload their cached UI when these change; our surface changes only with the
        // plugin version.
        "plugin_hash": crate::settings::printer_uuid(concat!("plugins-", env!("CARGO_PKG_VERSION"))).replace('-', ""),
        "config_hash": crate::settings::printer_uuid(concat!("config-", env!("CARGO_PKG_VERSION"))).replace('-', ""),
        "debug": false,
        "safe_mode": null,
        "online": true,
        "permissions": permissions,
    }})
}

/// Opens a socket: the SockJS open frame and `connected`, then the state the timer works from.
pub fn on_open(conn: &Connection) -> Result<(), String> {
    let printer = conn
        .printer
        .clone()
        .ok_or_else(|| "the OctoPrint push channel is mounted per printer".to_string())?;
    push::send_text(conn.id, "o").map_err(|e| e.to_string())?;
    push::send_text(conn.id, &frame(&[connected_message()])).map_err(|e| e.to_string())?;
    let state = ConnState {
        printer,
        throttle: 1,
        last_heartbeat_ms: now_ms(),
        ..ConnState::default()
    };
    save_conn(conn.id, &state);
    Ok(())
}

/// Forgets a closed socket.
pub fn on_close(conn: ConnectionId) {
    let _ = kv::delete(&conn_key(conn));
}

/// The client messages of one SockJS frame: `["<json>", …]` as the protocol has it; a bare
/// array of objects or a single object is accepted too, as lenient clients send those.
pub fn client_messages(text: &str) -> Vec<Map<String, Value>> {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    items
        .into_iter()
        .filter_map(|item| match item {
            Value::String(s) => serde_json::from_str::<Value>(&s).ok(),
            other => Some(other),
        })
        .filter_map(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// The farm user behind `<name>:<session>` (a session from a login) or `<name>:<api key>`.
fn authenticate(auth: &str) -> Option<String> {
    let (name, secret) = auth.split_once(':')?;
    if name.is_empty() || secret.is_empty() {
        return None;
    }
    let identity = match farm_auth::check_session(secret) {
        Ok(Some(identity)) => Some(identity),
        _ => farm_auth::verify_api_key(secret).ok().flatten(),
    }?;
    (identity.user == name).then_some(identity.user)
}

/// Handles a frame from the client.
pub fn on_message(conn: ConnectionId, msg: Message) {
    let Some(text) = msg.as_text() else { return };
    let Some(mut state) = load_conn(conn) else {
        return;
    };
    let before = state.clone();
    for m in client_messages(text) {
        if let Some(auth) = m.get("auth") {
            match auth.as_str().and_then(authenticate) {
                Some(user) => {
                    state.user = Some(user);
                    send_history(conn, &mut state);
                }
                None => {
                    state.user = None;
                    send(conn, json!({"reauthRequired": {"reason": "stale"}}));
                }
            }
        } else if let Some(t) = m.get("throttle") {
            if let Some(n) = t.as_u64() {
                state.throttle = n.clamp(1, u64::from(MAX_THROTTLE)) as u32;
            }
        }
        // `subscribe` (state/plugin/event filters) is accepted; every socket gets everything.
    }
    if state != before {
        save_conn(conn, &state);
    }
}

/// OctoPrint's heater readings at one moment: `{"time": s, "tool0": {"actual", "target"}, …}`.
fn temps_entry(time_ms: u64, readings: &[Temperature]) -> Value {
    let mut entry = Map::new();
    entry.insert("time".into(), json!(time_ms / 1000));
    for t in readings {
        entry.insert(
            t.sensor.clone(),
            json!({"actual": t.actual, "target": t.target}),
        );
    }
    Value::Object(entry)
}

/// The payload shared by `current` and `history`.
fn status_payload(p: &PrinterInfo, temps: Vec<Value>, logs: &[String]) -> Result<Value, Error> {
    let js = job::job_state(p)?;
    let busy: Vec<Value> = octo_files::printing_file(p)
        .map(|f| json!({"origin": "local", "path": f}))
        .into_iter()
        .collect();
    Ok(json!({
        "state": printer::state_object(p),
        "job": js["job"],
        "progress": js["progress"],
        // The farm does not track the head's position.
        "currentZ": null,
        "offsets": printer::offsets(&p.id)?,
        "temps": temps,
        "logs": logs,
        "messages": [],
        "busyFiles": busy,
        "serverTime": now_ms() as f64 / 1000.0,
    }))
}

/// Sends `history` after a successful auth: the full status with temperature history.
fn send_history(conn: ConnectionId, state: &mut ConnState) {
    let feed = load_feed(&state.printer);
    let p = match printers::get(&state.printer) {
        Ok(p) => p,
        Err(e) => {
            printfarm_sdk::warn!("octoprint push: printer {}: {e}", state.printer);
            return;
        }
    };
    let temps: Vec<Value> = printers::temperature_history(&p.id, HISTORY_SAMPLES)
        .unwrap_or_default()
        .iter()
        .map(|s| temps_entry(s.time, &s.readings))
        .collect();
    match status_payload(&p, temps, &feed.logs) {
        Ok(payload) => send(conn, json!({ "history": payload })),
        Err(e) => printfarm_sdk::warn!("octoprint push: history of {}: {e}", p.id),
    }
    state.last_current_ms = now_ms();
    state.seen_version = feed.version;
    state.log_seq = feed.log_seq;
}

/// The timer: heartbeats for every socket, throttled `current` messages for authenticated ones.
/// Printer data is fetched once per printer per tick, and only when some socket needs it.
pub fn on_tick() {
    let now = now_ms();
    // Bounded by the manifest's `limits.max-sockets`.
    let conns = push::connections(None);
    // Roughly once a minute (by the wall clock, so no state is needed to schedule it).
    if now % SWEEP_MS < BASE_INTERVAL_MS {
        sweep(&conns);
    }
    let mut feeds: HashMap<String, PrinterFeed> = HashMap::new();
    let mut infos: HashMap<String, Option<(PrinterInfo, Value)>> = HashMap::new();
    for c in conns {
        let Some(mut state) = load_conn(c.id) else {
            continue;
        };
        let mut changed = false;
        if state.heartbeat_due(now) {
            let _ = push::send_text(c.id, "h");
            state.last_heartbeat_ms = now;
            changed = true;
        }
        let feed = feeds
            .entry(state.printer.clone())
            .or_insert_with(|| load_feed(&state.printer));
        if state.current_due(now, feed.version) {
            let base = infos
                .entry(state.printer.clone())
                .or_insert_with(|| current_base(&state.printer));
            if let Some((p, payload)) = base {
                let mut payload = payload.clone();
                payload["logs"] = json!(feed.logs_after(state.log_seq));
                payload["temps"] = json!([temps_entry(now, &p.temperatures)]);
                send(c.id, json!({ "current": payload }));
                state.last_current_ms = now;
                state.seen_version = feed.version;
                state.log_seq = feed.log_seq;
                changed = true;
            }
        }
        if changed {
            save_conn(c.id, &state);
        }
    }
}

/// Deletes connection states whose socket is gone.
fn sweep(open: &[Connection]) {
    let Ok(keys) = kv::list_keys("push/conn/", SWEEP_BATCH) else {
        return;
    };
    for key in keys {
        let id = key.rsplit('/').next().and_then(|id| id.parse::<u64>().ok());
        if !id.is_some_and(|id| open.iter().any(|c| c.id == id)) {
            let _ = kv::delete(&key);
        }
    }
}

/// The printer and the parts of its `current` payload every socket shares.
fn current_base(printer: &str) -> Option<(PrinterInfo, Value)> {
    let p = printers::get(printer)
        .map_err(|e| printfarm_sdk::warn!("octoprint push: printer {printer}: {e}"))
        .ok()?;
    let payload = status_payload(&p, Vec::new(), &[])
        .map_err(|e| printfarm_sdk::warn!("octoprint push: current of {printer}: {e}"))
        .ok()?;
    Some((p, payload))
}

/// OctoPrint's state id for `PrinterStateChanged`.
pub fn state_id(s: PrinterState) -> &'static str {
    match s {
        PrinterState::Offline => "OFFLINE",
        PrinterState::Connecting => "CONNECTING",
        PrinterState::Operational => "OPERATIONAL",
        PrinterState::Printing => "PRINTING",
        PrinterState::Pausing => "PAUSING",
        PrinterState::Paused => "PAUSED",
        PrinterState::Cancelling => "CANCELLING",
        PrinterState::Error => "CLOSED_WITH_ERROR",
    }
}

/// A core event as OctoPrint `event` messages (`{type, payload}`); empty for events that only
/// feed `current` messages.
pub fn translate(event: &Event) -> Vec<Value> {
    match event {
        Event::PrinterState(StateChanged {
            current, reason, ..
        }) => {
            // The text of `state_text` without a whole printer record.
            let string = match current {
                PrinterState::Error => format!(
                    "Offline after error{}",
                    reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
                s => {
                    let mut t = s.as_str().to_string();
                    if let Some(first) = t.get_mut(..1) {
                        first.make_ascii_uppercase();
                    }
                    t
                }
            };
            vec![event_message(
                "PrinterStateChanged",
                json!({"state_id": state_id(*current), "state_string": string}),
            )]
        }
        Event::Print(p) => vec![print_event(p)],
        Event::Files(f) => file_events(f),
        _ => Vec::new(),
    }
}

fn event_message(kind: &str, payload: Value) -> Value {
    json!({"event": {"type": kind, "payload": payload}})
}

/// `PrintStarted`, `PrintDone`…: OctoPrint's payload names the file; ends carry the time.
fn print_event(p: &PrintChanged) -> Value {
    let kind = match p.phase {
        PrintPhase::Started => "PrintStarted",
        PrintPhase::Paused => "PrintPaused",
        PrintPhase::Resumed => "PrintResumed",
        PrintPhase::Done => "PrintDone",
        PrintPhase::Failed => "PrintFailed",
        PrintPhase::Cancelled => "PrintCancelled",
    };
    let name = p.file.rsplit('/').next().unwrap_or(&p.file);
    let size = files::stat(&p.file).ok().map(|i| i.size);
    let mut payload = json!({
        "name": name,
        "path": p.file,
        "origin": "local",
        "size": size,
        "owner": null,
        "user": null,
    });
    if matches!(
        p.phase,
        PrintPhase::Done | PrintPhase::Failed | PrintPhase::Cancelled
    ) {
        payload["time"] = json!(p.elapsed_secs);
    }
    if p.phase == PrintPhase::Failed {
        payload["reason"] = json!(p.reason.as_deref().unwrap_or("error"));
    }
    event_message(kind, payload)
}

/// `FileAdded`/`FileRemoved` (+ `UpdatedFiles`) and `MetadataAnalysisFinished`.
fn file_events(f: &FileChanged) -> Vec<Value> {
    let name = f.path.rsplit('/').next().unwrap_or(&f.path);
    let entry = json!({
        "storage": "local",
        "path": f.path,
        "name": name,
        "type": ["machinecode", "gcode"],
    });
    match f.change {
        FileChange::Added => vec![
            event_message("FileAdded", entry),
            event_message("UpdatedFiles", json!({"type": "printables"})),
        ],
        FileChange::Removed => vec![
            event_message("FileRemoved", entry),
            event_message("UpdatedFiles", json!({"type": "printables"})),
        ],
        FileChange::Analysed => {
            let analysis = files::stat(&f.path).ok().and_then(|i| i.analysis);
            let result = analysis.map(|a| {
                let filament: Map<String, Value> = a
                    .filament_mm
                    .iter()
                    .enumerate()
                    .map(|(i, mm)| (format!("tool{i}"), json!({"length": mm})))
                    .collect();
                json!({"estimatedPrintTime": a.estimated_print_secs, "filament": filament})
            });
            vec![event_message(
                "MetadataAnalysisFinished",
                json!({"name": name, "path": f.path, "origin": "local", "result": result}),
            )]
        }
    }
}

/// A core event: bumps the printer's feed (so the timer sends a `current`), keeps log lines, and
/// sends translated events to the authenticated sockets concerned. Does nothing (beyond one
/// host call) for printers nobody listens to.
pub fn on_event(event: Event) {
    let conns = push::connections(event.printer());
    if conns.is_empty() {
        return;
    }
    if let Some(printer) = event.printer() {
        let mut feed = load_feed(printer);
        match &event {
            Event::PrinterLog(LogLine { line, .. }) => feed.push_log(line),
            _ => feed.version += 1,
        }
        save_feed(printer, &feed);
    }
    let messages = translate(&event);
    if messages.is_empty() {
        return;
    }
    for c in conns {
        if load_conn(c.id).is_some_and(|s| s.user.is_some()) {
            let _ = push::send_text(c.id, &frame(&messages));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authed() -> ConnState {
        ConnState {
            printer: "p1".into(),
            user: Some("admin".into()),
            throttle: 1,
            last_current_ms: 10_000,
            last_heartbeat_ms: 10_000,
            seen_version: 3,
            log_seq: 0,
        }
    }

    #[test]
    fn heartbeat_every_25_seconds() {
        let s = authed();
        assert!(!s.heartbeat_due(10_000));
        assert!(!s.heartbeat_due(10_000 + HEARTBEAT_MS - 1));
        assert!(s.heartbeat_due(10_000 + HEARTBEAT_MS));
        // Unauthenticated sockets get heartbeats too: they are SockJS's, not OctoPrint's.
        let anon = ConnState {
            user: None,
            ..authed()
        };
        assert!(anon.heartbeat_due(10_000 + HEARTBEAT_MS));
    }

    #[test]
    fn current_follows_changes_throttle_and_keepalive() {
        let mut s = authed();
        // Nothing changed: only the keepalive sends.
        assert!(!s.current_due(10_500, 3));
        assert!(s.current_due(10_000 + KEEPALIVE_MS, 3));
        // A change goes out after one period (a slightly early tick counts).
        assert!(!s.current_due(10_300, 4));
        assert!(s.current_due(10_450, 4));
        // Throttle 4: every 2 s at most.
        s.throttle = 4;
        assert!(!s.current_due(11_500, 4));
        assert!(s.current_due(12_000, 4));
        // Never before auth.
        s.user = None;
        assert!(!s.current_due(60_000, 9));
    }

    #[test]
    fn log_feed_hands_each_line_out_once() {
        let mut f = PrinterFeed::default();
        f.push_log("echo:one");
        f.push_log("echo:two");
        assert_eq!(f.logs_after(0), ["echo:one", "echo:two"]);
        assert_eq!(f.logs_after(1), ["echo:two"]);
        assert!(f.logs_after(2).is_empty());
        for i in 0..100 {
            f.push_log(&format!("l{i}"));
        }
        assert_eq!(f.logs.len(), MAX_LOG_LINES);
        assert_eq!(f.logs_after(0).len(), MAX_LOG_LINES);
        assert_eq!(f.logs_after(f.log_seq - 1), ["l99"]);
        f.push_log(&"é".repeat(400));
        assert!(f.logs.last().unwrap().len() <= MAX_LOG_LINE_BYTES);
    }

    #[test]
    fn sweep_drops_states_of_closed_sockets_only() {
        save_conn(7, &authed());
        save_conn(8, &authed());
        save_feed("p1", &PrinterFeed::default());
        // Socket 8 is still open; 7 closed without its close hook.
        let open = vec![Connection {
            id: 8,
            route: String::new(),
            params: Vec::new(),
            query: String::new(),
            headers: Vec::new(),
            printer: Some("p1".into()),
            remote_addr: String::new(),
        }];
        sweep(&open);
        assert!(load_conn(7).is_none());
        assert_eq!(load_conn(8), Some(authed()));
        assert!(kv::get(&feed_key("p1")).unwrap().is_some());
    }

    #[test]
    fn client_frames_parse() {
        let m = client_messages(r#"["{\"auth\":\"a:b\"}","{\"throttle\":2}"]"#);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0]["auth"], "a:b");
        assert_eq!(m[1]["throttle"], 2);
        assert_eq!(client_messages(r#"{"throttle":3}"#)[0]["throttle"], 3);
        assert_eq!(client_messages(r#"[{"subscribe":{}}]"#).len(), 1);
        assert!(client_messages("garbage").is_empty());
    }

    #[test]
    fn frames_and_events() {
        assert_eq!(frame(&[json!({"a": 1})]), r#"a[{"a":1}]"#);
        let e = Event::PrinterState(StateChanged {
            printer: "p1".into(),
            previous: PrinterState::Operational,
            current: PrinterState::Printing,
            reason: None,
        });
        let m = translate(&e);
        assert_eq!(m[0]["event"]["type"], "PrinterStateChanged");
        assert_eq!(m[0]["event"]["payload"]["state_id"], "PRINTING");
        assert_eq!(m[0]["event"]["payload"]["state_string"], "Printing");
        let c = connected_message();
        assert_eq!(c["connected"]["version"], OCTOPRINT_VERSION);
        assert!(c["connected"]["apikey"].is_null());
    }
}
