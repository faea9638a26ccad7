//! `misbehave`: a printfarm plugin that misbehaves on purpose, so the host's tests can prove
//! that a plugin is isolated (deadlines, memory limits, traps, capabilities, kv limits) and that
//! every part of the contract reaches the guest intact (uploads, config, events, ticks, push).
//!
//! Routes (mounted at `/misbehave`):
//!
//! | route                    | behaviour |
//! |--------------------------|-----------|
//! | `GET /ok`                | `{"ok":true,"plugin":"misbehave"}` |
//! | `GET /loop`              | spins forever (the deadline must stop it) |
//! | `GET /bomb`              | allocates and touches 1 MiB blocks until memory runs out |
//! | `GET /panic`             | panics (traps) |
//! | `GET /print`             | prints a line to stdout, one to stderr and one to stderr without a newline |
//! | `GET /denied/kv`         | calls `kv.get`, reports the outcome as `{"ok","error_kind","message"}` |
//! | `GET /denied/printers`   | calls `printers.list`, same report |
//! | `GET /denied/jobs`       | calls `jobs.list` (not declared in the manifest), same report |
//! | `POST /upload`           | `{"uploads":[…],"form":[[name,value],…],"body_len":N}` |
//! | `GET /config`            | the configuration as the plugin received it |
//! | `GET /kv/{key}`          | `{"value": "<utf-8 text or null>"}` |
//! | `PUT /kv/{key}`          | stores the raw body; 204, or the host error via the SDK mapping (413 for too large) |
//! | `POST /fetch`            | `{"url"}` → outbound GET → `{"status","body"}` or `{"error_kind","message"}` |
//! | `GET /ticks`             | `N`: a bare JSON number, the on-tick calls counted by `on_tick` in kv key `ticks` |
//! | `GET /events`            | `[{"event","printer","detail"},…]`: the last events, kept by `on_event` in kv key `events` |
//! | `GET /whoami`            | `{"printer": <printer of the mount or null>, "mount": "<mount prefix>", "route": "<manifest route>"}` |
//! | `GET /instance-calls`    | `{"calls": N, "printer": …}`: N counts this route's calls in this instance (1 in a fresh one) |
//!
//! Root route `GET /plugin/misbehave/whoami` (at the host's root, whatever the mount): as
//! `GET /whoami`.
//!
//! Push route `/ws`: greets a new connection with `{"hello": <conn id>}`, echoes text as
//! `echo:<text>` (binary frames unchanged), and closes with 4000 "bye" when the client sends
//! `close`. `init` fails when `label` is `"reject"`.

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};

use printfarm_sdk::events::Event;
use printfarm_sdk::push::{self, Connection, ConnectionId, Message};
use printfarm_sdk::{
    http, jobs, kv, printers, ws, Error, HostError, Plugin, Request, Response, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

/// How many events `GET /events` keeps.
const MAX_EVENTS: usize = 20;
/// The manifest's `limits.max-kv-value-bytes`: the stored event list is trimmed to fit it.
const MAX_KV_VALUE: usize = 1024;

struct Misbehave;

impl Plugin for Misbehave {
    fn router() -> Router {
        Router::new()
            .get("/ok", ok)
            .get("/loop", spin)
            .get("/bomb", bomb)
            .get("/panic", panic_route)
            .get("/print", print_route)
            .get("/denied/kv", |_: &Request| {
                Ok(report(kv::get("misbehave-probe")))
            })
            .get("/denied/printers", |_: &Request| {
                Ok(report(printers::list()))
            })
            .get("/denied/jobs", |_: &Request| Ok(report(jobs::list())))
            .post("/upload", upload)
            .get("/config", |_: &Request| {
                Ok(Response::ok_json(&printfarm_sdk::config::<Value>()?))
            })
            .get("/kv/{key}", kv_get)
            .put("/kv/{key}", kv_put)
            .post("/count/{key}", count)
            .post("/fetch", fetch)
            .get("/ticks", ticks)
            .get("/events", events)
            .get("/whoami", whoami)
            .get("/plugin/misbehave/whoami", whoami)
            .get("/instance-calls", instance_calls)
            .get("/host", |_: &Request| {
                Ok(Response::ok_json(&printfarm_sdk::host_info()))
            })
            .post("/ws-connect", ws_connect)
            .get("/socket-log", socket_log)
    }

    fn init(config: &Value) -> Result<(), String> {
        if config.get("label").and_then(Value::as_str) == Some("reject") {
            return Err("label must not be 'reject'".to_string());
        }
        Ok(())
    }

    fn on_socket_message(socket: u64, msg: Message) {
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(b) => format!("{} bytes", b.len()),
        };
        let _ = append_socket_log(format!("{socket}:{text}"));
    }

    fn on_socket_close(socket: u64, code: u16, _reason: String) {
        let _ = append_socket_log(format!("{socket}:closed:{code}"));
    }

    fn on_tick() {
        if let Err(e) = kv::increment("ticks", 1) {
            printfarm_sdk::warn!("misbehave: cannot count a tick: {e}");
        }
    }

    fn on_event(event: Event) {
        if let Err(e) = remember_event(&event) {
            printfarm_sdk::warn!("misbehave: cannot store an event: {e}");
        }
    }

    fn on_push_open(conn: &Connection) -> Result<(), String> {
        push::send_json(conn.id, &json!({ "hello": conn.id })).map_err(|e| e.to_string())
    }

    fn on_push_message(conn: ConnectionId, msg: Message) {
        let result = match &msg {
            Message::Text(text) if text == "close" => push::close(conn, 4000, "bye"),
            Message::Text(text) => push::send_text(conn, &format!("echo:{text}")),
            Message::Binary(_) => push::send(conn, &msg),
        };
        if let Err(e) = result {
            printfarm_sdk::warn!("misbehave: push connection {conn}: {e}");
        }
    }
}

fn ok(_: &Request) -> Result<Response, Error> {
    Ok(Response::json_text(
        200,
        r#"{"ok":true,"plugin":"misbehave"}"#,
    ))
}

/// Never returns: only the host's deadline ends this call.
fn spin(_: &Request) -> Result<Response, Error> {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Allocates 1 MiB blocks, writes to every page and keeps them all, until allocation fails and
/// the instance traps.
fn bomb(_: &Request) -> Result<Response, Error> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; 1 << 20];
        for i in (0..block.len()).step_by(4096) {
            block[i] = (i / 4096) as u8 | 1;
        }
        hoard.push(black_box(block));
        black_box(&hoard);
    }
}

/// Counts its own calls in a static: 1 on every call of a fresh instance, 1, 2, 3… when the host
/// reuses the instance (`limits.calls-per-instance`).
fn instance_calls(req: &Request) -> Result<Response, Error> {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
    Ok(Response::ok_json(
        &json!({ "calls": calls, "printer": req.printer() }),
    ))
}

fn print_route(_: &Request) -> Result<Response, Error> {
    println!("misbehave says hello on stdout");
    eprintln!("misbehave complains on stderr");
    eprint!("misbehave trails off");
    Ok(Response::no_content())
}

fn panic_route(_: &Request) -> Result<Response, Error> {
    panic!("misbehave: deliberate panic")
}

/// Reports the outcome of a host call without propagating the error.
fn report<T>(result: Result<T, HostError>) -> Response {
    let body = match result {
        Ok(_) => json!({ "ok": true, "error_kind": null, "message": null }),
        Err(e) => json!({ "ok": false, "error_kind": e.kind(), "message": e.message() }),
    };
    Response::ok_json(&body)
}

fn upload(req: &Request) -> Result<Response, Error> {
    let form: Vec<(&str, &str)> = req
        .form_fields()
        .iter()
        .map(|f| (f.name.as_str(), f.value.as_str()))
        .collect();
    Ok(Response::ok_json(&json!({
        "uploads": req.uploads(),
        "form": form,
        "body_len": req.body().len(),
    })))
}

fn kv_get(req: &Request) -> Result<Response, Error> {
    let key: String = req.param("key")?;
    let value = kv::get_string(&key)?;
    Ok(Response::ok_json(&json!({ "value": value })))
}

fn kv_put(req: &Request) -> Result<Response, Error> {
    let key: String = req.param("key")?;
    kv::set(&key, req.body())?;
    Ok(Response::no_content())
}

/// A read-modify-write of a kv counter with a pause in between, so that two calls that run at
/// the same time lose one increment unless the host serializes them (`serialize-changes`).
fn count(req: &Request) -> Result<Response, Error> {
    let key: String = req.param("key")?;
    let current: i64 = kv::get_string(&key)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    std::thread::sleep(std::time::Duration::from_millis(5));
    kv::set(&key, (current + 1).to_string())?;
    Ok(Response::ok_json(&json!({ "count": current + 1 })))
}

#[derive(Deserialize)]
struct FetchRequest {
    url: String,
}

fn fetch(req: &Request) -> Result<Response, Error> {
    let FetchRequest { url } = req.json()?;
    let body = match http::get(&url) {
        Ok(res) => json!({ "status": res.status, "body": res.text() }),
        Err(e) => json!({ "error_kind": e.kind(), "message": e.message() }),
    };
    Ok(Response::ok_json(&body))
}

/// `POST /ws-connect {"url"}`: opens an outbound websocket and sends `ping` on it; what comes back
/// is logged by `on_socket_message` and read with `GET /socket-log`.
fn ws_connect(req: &Request) -> Result<Response, Error> {
    let FetchRequest { url } = req.json()?;
    let body = match ws::connect(&url, &[]).and_then(|id| ws::send_text(id, "ping").map(|_| id)) {
        Ok(id) => json!({ "socket": id }),
        Err(e) => json!({ "error_kind": e.kind(), "message": e.message() }),
    };
    Ok(Response::ok_json(&body))
}

fn socket_log(_: &Request) -> Result<Response, Error> {
    let log: Vec<String> = kv::get_json("socket-log")?.unwrap_or_default();
    Ok(Response::ok_json(&log))
}

fn append_socket_log(line: String) -> Result<(), HostError> {
    let mut log: Vec<String> = kv::get_json("socket-log")?.unwrap_or_default();
    log.push(line);
    kv::set_json("socket-log", &log)
}

fn ticks(_: &Request) -> Result<Response, Error> {
    let ticks = kv::get_string("ticks")?
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    Ok(Response::ok_json(&ticks))
}

fn events(_: &Request) -> Result<Response, Error> {
    let events: Vec<Value> = kv::get_json("events")?.unwrap_or_default();
    Ok(Response::ok_json(&events))
}

fn whoami(req: &Request) -> Result<Response, Error> {
    Ok(Response::ok_json(
        &json!({ "printer": req.printer(), "mount": req.mount(), "route": req.route() }),
    ))
}

/// A short description of an event: its name, its printer and one detail.
fn describe(event: &Event) -> Value {
    let detail = match event {
        Event::PrinterState(e) => e.current.as_str().to_string(),
        Event::Temperatures(e) => format!("{} readings", e.readings.len()),
        Event::Progress(e) => e.progress.file_pos.to_string(),
        Event::Print(e) => e.phase.as_str().to_string(),
        Event::Files(e) => format!("{} {}", e.change.as_str(), e.path),
        Event::Jobs(e) => format!("{} {}", e.job_id, e.what),
        Event::PrinterLog(e) => e.line.clone(),
    };
    let detail: String = detail.chars().take(40).collect();
    json!({ "event": event.name(), "printer": event.printer(), "detail": detail })
}

/// Appends an event to kv key `events`, keeping the last `MAX_EVENTS` that fit in the kv
/// value limit.
fn remember_event(event: &Event) -> Result<(), HostError> {
    let mut events: Vec<Value> = kv::get_json("events")?.unwrap_or_default();
    events.push(describe(event));
    if events.len() > MAX_EVENTS {
        events.drain(..events.len() - MAX_EVENTS);
    }
    loop {
        let bytes = serde_json::to_vec(&events).unwrap_or_default();
        if bytes.len() <= MAX_KV_VALUE || events.len() <= 1 {
            return kv::set("events", bytes);
        }
        events.remove(0);
    }
}

printfarm_sdk::export_plugin!(Misbehave);
