//! A stand-in Obico server for the end-to-end tests of the `obico` plugin: the server's side of
//! the link contract (the Obico link reference, `shared/reference/obico-link.md`), on 127.0.0.1,
//! driven and inspected by the test.
//!
//! The real server is a Django application with Channels, Redis and a database; a test cannot
//! start one, and the Obico cloud is out of reach. What the plugin relies on is the wire contract,
//! so that is what this serves, answering the way the real server does where the plugin could
//! tell the difference (status codes, JSON bodies, the rate limit, the websocket's handshake
//! answers and close codes), and writing down everything it is sent so a test can check the
//! agent's side of the contract: poll spacing, status frames, pictures, reconnect backoff.
//!
//! The test plays the user and the web app: it issues linking codes ([`ObicoStandin::issue_code`]),
//! types passcodes ([`ObicoStandin::enter_passcode`]), pauses prints
//! ([`ObicoStandin::command`]), opens the webcam view ([`ObicoStandin::set_viewing`]) and calls
//! the agent ([`ObicoStandin::passthru`]). It can stop and restart the server on the same port
//! with its printers kept ([`ObicoStandin::restart`]), as a server upgrade would, to test the
//! agent's reconnect.
//!
//! Printers are named by their Obico id (a [`PrinterId`]), as the server's URLs and the app do.
//! Waiting is done with the `wait_*` helpers, which wake on every change the server records, so a
//! test never sleeps for a guessed time; they fail the test with a summary of what the server saw.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::SinkExt;
use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A printer's id on the server: the number in the app's URLs and in `printer.id`.
pub type PrinterId = u64;

/// The close code with which the server closes a printer's older socket when a second one opens
/// with the same token.
pub const CLOSE_REPLACED: u16 = 4321;

/// The close code used when a printer is deleted while its socket is open. The reference does not
/// say how the real server closes it; the stand-in closes normally, and the agent learns why from
/// the 403 of its next handshake.
pub const CLOSE_REVOKED: u16 = 1000;

/// The anonymous rate limit that `/unlinked/` and `/verify/` share per client IP on the real
/// server, unless the test sets another ([`ObicoStandin::set_anonymous_limit`]).
pub const ANONYMOUS_LIMIT: (u32, Duration) = (3600, Duration::from_secs(3600));

/// How long a device keeps its one-time passcode (about two hours on the real server), unless the
/// test sets another ([`ObicoStandin::set_passcode_lifetime`]).
pub const PASSCODE_LIFETIME: Duration = Duration::from_secs(2 * 3600);

/// A `current_print_ts` this close to the open print's is the same print: agents compute the
/// start time afresh on restart, and the server forgives the drift.
const PRINT_TS_TOLERANCE: i64 = 20;

// The printer settings every stand-in printer has (the real server's defaults), sent as the
// pause arguments and shown in `GET /api/v1/octo/printer/`.
const RETRACT_ON_PAUSE: f64 = 6.5;
const LIFT_Z_ON_PAUSE: f64 = 2.5;
const TOOLS_OFF_ON_PAUSE: bool = true;
const BED_OFF_ON_PAUSE: bool = false;

/// Pictures and event snapshots are JPEGs of a few hundred KiB; axum's default limit of 2 MiB
/// would refuse a large webcam frame that the real server takes.
const BODY_LIMIT: usize = 16 << 20;

/// How long the server waits for the agent to answer a close frame it sent, or to take the answer
/// to the agent's own: long enough for a live agent, short enough that a dead one does not hold
/// the records back.
const CLOSE_HANDSHAKE_WAIT: Duration = Duration::from_secs(2);

/// One printer as the test sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrinterInfo {
    /// The Obico id.
    pub id: PrinterId,
    /// The name shown in the app: `Printer <id>` until renamed.
    pub name: String,
    /// The 20-hex-digit token the agent authenticates with.
    pub auth_token: String,
    /// Deleted by [`ObicoStandin::revoke`]: its token no longer works.
    pub revoked: bool,
}

/// One `POST /api/v1/octo/unlinked/` as received, whatever its answer.
#[derive(Clone, Debug)]
pub struct UnlinkedPoll {
    /// When it arrived.
    pub at: Instant,
    /// The JSON body (`Null` when it was not JSON).
    pub body: Value,
    /// The status answered (429 when throttled).
    pub status: u16,
}

/// One call of `/api/v1/octo/verify/`, whatever its answer.
#[derive(Clone, Debug)]
pub struct VerifyCall {
    /// When it arrived.
    pub at: Instant,
    /// The `code` of the query string.
    pub code: Option<String>,
    /// The status answered.
    pub status: u16,
}

/// One HTTP request of any kind (websocket handshakes included), for checks that span endpoints.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    /// When it arrived.
    pub at: Instant,
    /// `GET`, `POST`, …
    pub method: String,
    /// The path with its query string.
    pub path: String,
    /// The printer whose token it carried (`Token …` or `bearer …`), if the token was known.
    pub printer: Option<PrinterId>,
    /// The status answered (101 for an accepted websocket).
    pub status: u16,
}

/// One picture accepted by `POST /api/v1/octo/pic/`.
#[derive(Clone, Debug)]
pub struct Pic {
    /// When it arrived.
    pub at: Instant,
    /// Whose it is.
    pub printer: PrinterId,
    /// Its size in bytes.
    pub size: usize,
    /// Whether it starts with a JPEG marker (FF D8 FF).
    pub jpeg: bool,
    /// The form's text fields: `is_primary_camera`, `is_nozzle_camera`, `camera_name`,
    /// `viewing_boost`, …
    pub fields: BTreeMap<String, String>,
}

/// One event accepted by `POST /api/v1/octo/printer_events/`.
#[derive(Clone, Debug)]
pub struct PrinterEvent {
    /// When it arrived.
    pub at: Instant,
    /// Whose it is.
    pub printer: PrinterId,
    /// The form's text fields: `event_type`, `event_class`, `event_title`, `event_text`,
    /// `info_url`, `notify`, …
    pub fields: BTreeMap<String, String>,
    /// The size of the `snapshot` file, if one came.
    pub snapshot: Option<usize>,
}

/// One G-code file as upserted by `POST /api/v1/octo/g_code_files/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GcodeFile {
    /// The id the server answered, which the agent reports as
    /// `status.job.file.obico_g_code_file_id`.
    pub id: u64,
    /// Whose it is.
    pub printer: PrinterId,
    /// As last posted.
    pub filename: String,
    /// Part of the upsert key.
    pub safe_filename: String,
    /// As last posted.
    pub num_bytes: u64,
    /// Part of the upsert key.
    pub agent_signature: String,
    /// As last posted.
    pub url: String,
    /// How many posts named this file (1 when only created).
    pub posts: u32,
}

/// One text frame received from an agent.
#[derive(Clone, Debug)]
pub struct Frame {
    /// When it arrived.
    pub at: Instant,
    /// Whose socket it came on.
    pub printer: PrinterId,
    /// The parsed JSON.
    pub json: Value,
}

/// A frame the server could not use: not JSON, or binary.
#[derive(Clone, Debug)]
pub struct RawFrame {
    /// When it arrived.
    pub at: Instant,
    /// Whose socket it came on.
    pub printer: PrinterId,
    /// The text (a binary frame shows as `<binary, N bytes>`).
    pub text: String,
}

/// A print as the server tracks it from `current_print_ts`.
#[derive(Clone, Debug)]
pub struct Print {
    /// The server's id for it.
    pub id: u64,
    /// Whose it is.
    pub printer: PrinterId,
    /// The `current_print_ts` that opened it (the print's start, Unix seconds).
    pub ts: i64,
    /// `status.job.file.name` of the frame that opened it.
    pub filename: String,
    /// When the frame that opened it arrived.
    pub opened_at: Instant,
    /// When the frame that closed it arrived (`-1`, or another print's start).
    pub closed_at: Option<Instant>,
}

/// Why a printer's socket closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// The agent sent a close frame (with this code, if any).
    Agent(Option<u16>),
    /// A second socket opened with the same token; the server closed this one with
    /// [`CLOSE_REPLACED`].
    Replaced,
    /// The printer was deleted ([`ObicoStandin::revoke`]); closed with [`CLOSE_REVOKED`].
    Revoked,
    /// The server stopped ([`ObicoStandin::stop`]): the connection was dropped without a close
    /// frame, as when the server's process ends.
    Stopped,
    /// The connection ended without a close frame from the agent, or failed.
    Lost,
}

/// One websocket connection of a printer.
#[derive(Clone, Debug)]
pub struct Connection {
    /// The server's number for it (increasing over the stand-in's life).
    pub id: u64,
    /// Whose it is.
    pub printer: PrinterId,
    /// When the handshake completed.
    pub opened_at: Instant,
    /// When it closed, if it has.
    pub closed_at: Option<Instant>,
    /// Why it closed, if it has.
    pub closed: Option<Closed>,
}

/// One text frame the server sent to an agent.
#[derive(Clone, Debug)]
pub struct Sent {
    /// When it was handed to the socket.
    pub at: Instant,
    /// To whom.
    pub printer: PrinterId,
    /// The text as sent (see [`ObicoStandin::send_raw`] for frames that are not JSON).
    pub text: String,
}

impl Sent {
    /// The frame as JSON (`Null` for a raw frame that is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

/// The server's records, shared between the listeners of one stand-in's life: hand it to
/// [`ObicoStandin::start_with`] to serve the same printers and tokens again, as a restarted
/// server keeps its database.
#[derive(Clone)]
pub struct StandinState(Arc<Shared>);

struct Shared {
    inner: Mutex<Inner>,
    /// Bumped after every change, so waiters wake instead of polling.
    changes: watch::Sender<u64>,
}

impl Default for StandinState {
    fn default() -> Self {
        StandinState(Arc::new(Shared {
            inner: Mutex::new(Inner::new()),
            changes: watch::Sender::new(0),
        }))
    }
}

impl StandinState {
    /// Empty records: no printers, default limits.
    pub fn new() -> StandinState {
        StandinState::default()
    }

    /// Reads the records.
    fn read(&self) -> MutexGuard<'_, Inner> {
        // A test that panicked while holding the lock has failed already; its records are
        // still worth reading for the next assertion's message.
        self.0.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the records and wakes every waiter.
    fn change<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let r = f(&mut self.read());
        self.0.changes.send_modify(|n| *n += 1);
        r
    }
}

struct PrinterEntry {
    info: PrinterInfo,
    created_at: SystemTime,
    /// What the server last told the agent, and tells it again on connect.
    viewing: bool,
    should_watch: bool,
    /// From the agent's status frames (`settings.agent`), as the real server shows them.
    agent_name: Option<String>,
    agent_version: Option<String>,
    socket: Option<Socket>,
    /// Its pictures of the last minute, whether capped or not, so a cap set later counts them.
    pics_last_minute: Window,
    pic_refusals: u64,
}

/// The open socket of a printer: where the test's messages go.
struct Socket {
    connection: u64,
    outbox: mpsc::UnboundedSender<Outgoing>,
}

enum Outgoing {
    Text(String),
    Close(u16, Closed),
}

/// A linking code and what verifying it does.
struct CodeEntry {
    id: u64,
    used: bool,
    /// The device whose passcode produced it: its polls show the code until it is used.
    device: Option<String>,
}

/// An unlinked device as its polls made it known.
struct Device {
    passcode: String,
    /// When the passcode was given: it expires a passcode lifetime later (the lifetime in force).
    passcode_given: Instant,
    /// Set once the user typed the passcode in the app.
    verification_code: Option<String>,
    /// Discovery messages for its next poll.
    messages: Vec<Value>,
}

impl Device {
    /// A device the server heard of (by a poll, or from the app's discovery) but gave no
    /// passcode yet: its poll gives one.
    fn new() -> Device {
        Device {
            passcode: String::new(),
            passcode_given: Instant::now(),
            verification_code: None,
            messages: Vec::new(),
        }
    }
}

/// A sliding-window rate limit, like Django REST framework's throttles: requests in the last
/// `window` are remembered, one over `limit` is refused and not remembered.
struct Window {
    times: VecDeque<Instant>,
}

impl Window {
    fn new() -> Window {
        Window {
            times: VecDeque::new(),
        }
    }

    /// Takes a slot at `now`, or says how long until the oldest remembered request leaves
    /// the window.
    fn take(&mut self, now: Instant, limit: u32, window: Duration) -> Result<(), Duration> {
        while self
            .times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.times.pop_front();
        }
        if self.times.len() < limit as usize {
            self.times.push_back(now);
            return Ok(());
        }
        Err(match self.times.front() {
            Some(oldest) => window - now.duration_since(*oldest),
            None => window,
        })
    }
}

struct Inner {
    next_printer: u64,
    next_code: u64,
    next_print: u64,
    next_file: u64,
    next_connection: u64,
    next_ref: u64,
    printers: BTreeMap<PrinterId, PrinterEntry>,
    codes: HashMap<String, CodeEntry>,
    devices: HashMap<String, Device>,
    anonymous_limit: (u32, Duration),
    anonymous: HashMap<IpAddr, Window>,
    anonymous_refusals: u64,
    pic_limit: Option<u32>,
    passcode_lifetime: Duration,
    unlinked: Vec<UnlinkedPoll>,
    verifies: Vec<VerifyCall>,
    requests: Vec<HttpRequest>,
    pics: Vec<Pic>,
    events: Vec<PrinterEvent>,
    files: Vec<GcodeFile>,
    frames: Vec<Frame>,
    dropped: Vec<Frame>,
    malformed: Vec<RawFrame>,
    prints: Vec<Print>,
    connections: Vec<Connection>,
    sent: Vec<Sent>,
    passthru: HashMap<String, oneshot::Sender<Result<Value, String>>>,
}

impl Inner {
    fn new() -> Inner {
        Inner {
            next_printer: 1,
            next_code: 1,
            next_print: 1,
            next_file: 1,
            next_connection: 1,
            next_ref: 1,
            printers: BTreeMap::new(),
            codes: HashMap::new(),
            devices: HashMap::new(),
            anonymous_limit: ANONYMOUS_LIMIT,
            anonymous: HashMap::new(),
            anonymous_refusals: 0,
            pic_limit: None,
            passcode_lifetime: PASSCODE_LIFETIME,
            unlinked: Vec::new(),
            verifies: Vec::new(),
            requests: Vec::new(),
            pics: Vec::new(),
            events: Vec::new(),
            files: Vec::new(),
            frames: Vec::new(),
            dropped: Vec::new(),
            malformed: Vec::new(),
            prints: Vec::new(),
            connections: Vec::new(),
            sent: Vec::new(),
            passthru: HashMap::new(),
        }
    }

    fn create_printer(&mut self, name: Option<&str>) -> PrinterInfo {
        let id = self.next_printer;
        self.next_printer += 1;
        let info = PrinterInfo {
            id,
            name: name.map_or_else(|| format!("Printer {id}"), str::to_owned),
            auth_token: random_string(20, b"0123456789abcdef"),
            revoked: false,
        };
        self.printers.insert(
            id,
            PrinterEntry {
                info: info.clone(),
                created_at: SystemTime::now(),
                viewing: false,
                should_watch: false,
                agent_name: None,
                agent_version: None,
                socket: None,
                pics_last_minute: Window::new(),
                pic_refusals: 0,
            },
        );
        info
    }

    /// A fresh 6-digit code, unique among the codes ever issued (a used code must stay
    /// refused).
    fn issue_code(&mut self, device: Option<&str>) -> String {
        let code = loop {
            let code = random_string(6, b"0123456789");
            if !self.codes.contains_key(&code) {
                break code;
            }
        };
        let id = self.next_code;
        self.next_code += 1;
        self.codes.insert(
            code.clone(),
            CodeEntry {
                id,
                used: false,
                device: device.map(str::to_owned),
            },
        );
        code
    }

    /// The printer a live (not revoked) token belongs to.
    fn live_printer(&self, token: &str) -> Option<PrinterId> {
        self.printers
            .values()
            .find(|p| !p.info.revoked && p.info.auth_token == token)
            .map(|p| p.info.id)
    }

    /// Registers a new socket of `printer`, closing its older one with [`CLOSE_REPLACED`], and
    /// queues the greeting: the remote status as the server knows it. Returns the connection's
    /// number, or `None` if the printer was deleted meanwhile.
    fn open_socket(
        &mut self,
        printer: PrinterId,
        outbox: mpsc::UnboundedSender<Outgoing>,
    ) -> Option<u64> {
        let entry = self.printers.get_mut(&printer)?;
        if entry.info.revoked {
            return None;
        }
        let connection = self.next_connection;
        self.next_connection += 1;
        let socket = Socket { connection, outbox };
        if let Some(older) = entry.socket.replace(socket) {
            let close = Outgoing::Close(CLOSE_REPLACED, Closed::Replaced);
            let _ = older.outbox.send(close);
        }
        let greeting = json!({"remote_status": {
            "viewing": entry.viewing,
            "should_watch": entry.should_watch,
        }});
        self.connections.push(Connection {
            id: connection,
            printer,
            opened_at: Instant::now(),
            closed_at: None,
            closed: None,
        });
        self.send(printer, greeting.to_string()).ok()?;
        Some(connection)
    }

    /// Records how a connection ended; the printer has no socket unless a newer one is open.
    fn close_socket(&mut self, printer: PrinterId, connection: u64, closed: Closed) {
        if let Some(c) = self.connections.iter_mut().find(|c| c.id == connection) {
            c.closed_at = Some(Instant::now());
            c.closed = Some(closed);
        }
        if let Some(entry) = self.printers.get_mut(&printer) {
            if entry.socket.as_ref().map(|x| x.connection) == Some(connection) {
                entry.socket = None;
            }
        }
    }

    /// Queues `text` on the printer's open socket and records it as sent.
    fn send(&mut self, printer: PrinterId, text: String) -> Result<(), String> {
        let entry = self
            .printers
            .get(&printer)
            .ok_or_else(|| format!("no printer {printer}"))?;
        let socket = entry
            .socket
            .as_ref()
            .ok_or_else(|| format!("printer {printer} has no open socket"))?;
        socket
            .outbox
            .send(Outgoing::Text(text.clone()))
            .map_err(|_| format!("printer {printer}'s socket is closing"))?;
        self.sent.push(Sent {
            at: Instant::now(),
            printer,
            text,
        });
        Ok(())
    }

    fn open_print(&self, printer: PrinterId) -> Option<&Print> {
        self.prints
            .iter()
            .find(|p| p.printer == printer && p.closed_at.is_none())
    }

    /// Applies the `current_print_ts` rules of the reference to one status frame.
    fn track_print(&mut self, printer: PrinterId, frame: &Value, at: Instant) {
        let ts = match frame.get("current_print_ts") {
            // Absent or null: the agent does not know; the open print stays as it is.
            None | Some(Value::Null) => return,
            Some(v) => match v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)) {
                Some(ts) => ts,
                None => return,
            },
        };
        let filename = frame
            .pointer("/status/job/file/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty());
        let open = self.open_print(printer).map(|p| (p.id, p.ts));
        if let Some((_, open_ts)) = open {
            if ts != -1 && (ts - open_ts).abs() <= PRINT_TS_TOLERANCE {
                return;
            }
        }
        if let Some((id, _)) = open {
            if let Some(p) = self.prints.iter_mut().find(|p| p.id == id) {
                p.closed_at = Some(at);
            }
        }
        if ts == -1 {
            return;
        }
        if let Some(filename) = filename {
            let id = self.next_print;
            self.next_print += 1;
            self.prints.push(Print {
                id,
                printer,
                ts,
                filename: filename.to_owned(),
                opened_at: at,
                closed_at: None,
            });
        }
    }

    /// One text frame from an agent: recorded, answered passthru calls resolved, status
    /// frames applied.
    fn receive(&mut self, printer: PrinterId, text: &str) {
        let at = Instant::now();
        let Ok(json) = serde_json::from_str::<Value>(text) else {
            self.malformed.push(RawFrame {
                at,
                printer,
                text: text.to_owned(),
            });
            return;
        };
        if let Some(status) = json.get("status") {
            // The real server drops a status without `_ts` before looking at anything else.
            if status.get("_ts").is_none_or(Value::is_null) {
                self.dropped.push(Frame { at, printer, json });
                return;
            }
            self.track_print(printer, &json, at);
            if let Some(entry) = self.printers.get_mut(&printer) {
                let agent = json.pointer("/settings/agent");
                if let Some(name) = agent.and_then(|a| a["name"].as_str()) {
                    entry.agent_name = Some(name.to_owned());
                }
                if let Some(version) = agent.and_then(|a| a["version"].as_str()) {
                    entry.agent_version = Some(version.to_owned());
                }
            }
        }
        if let Some(reply) = json.get("passthru") {
            if let Some(waiter) = reply["ref"].as_str().and_then(|r| self.passthru.remove(r)) {
                let result = match (reply.get("ret"), reply.get("error")) {
                    (_, Some(error)) if !error.is_null() => Err(error
                        .as_str()
                        .map_or_else(|| error.to_string(), str::to_owned)),
                    (Some(ret), _) => Ok(ret.clone()),
                    _ => Err(format!(
                        "stand-in: the reply has neither ret nor error: {json}"
                    )),
                };
                let _ = waiter.send(result);
            }
        }
        self.frames.push(Frame { at, printer, json });
    }

    fn summary(&self) -> String {
        let mut s = format!(
            "printers: {:?}\nunlinked polls: {}, verify calls: {}, anonymous 429s: {}\n",
            self.printers
                .values()
                .map(|p| (p.info.id, p.info.name.as_str(), p.socket.is_some()))
                .collect::<Vec<_>>(),
            self.unlinked.len(),
            self.verifies.len(),
            self.anonymous_refusals
        );
        for p in self.printers.keys() {
            let frames: Vec<&Frame> = self.frames.iter().filter(|f| f.printer == *p).collect();
            s.push_str(&format!(
                "printer {p}: {} connections, {} frames, {} dropped, {} malformed, {} pics, \
                 {} events, prints {:?}\n",
                self.connections.iter().filter(|c| c.printer == *p).count(),
                frames.len(),
                self.dropped.iter().filter(|f| f.printer == *p).count(),
                self.malformed.iter().filter(|f| f.printer == *p).count(),
                self.pics.iter().filter(|x| x.printer == *p).count(),
                self.events.iter().filter(|x| x.printer == *p).count(),
                self.prints
                    .iter()
                    .filter(|x| x.printer == *p)
                    .map(|x| (x.ts, x.filename.as_str(), x.closed_at.is_some()))
                    .collect::<Vec<_>>(),
            ));
            if let Some(last) = frames.last() {
                s.push_str(&format!("  last frame: {}\n", last.json));
            }
        }
        s
    }
}

/// The stand-in server: one listener at a time on a fixed port, over records that outlive it.
pub struct ObicoStandin {
    state: StandinState,
    port: u16,
    running: Mutex<Option<Listening>>,
}

/// What serves while the stand-in listens.
struct Listening {
    /// Cancelled by `stop`: ends the accept loop and every websocket of this run.
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Drop for ObicoStandin {
    fn drop(&mut self) {
        if let Some(listening) = self.running.get_mut().ok().and_then(Option::take) {
            listening.stop.cancel();
            listening.task.abort();
        }
    }
}

/// What the handlers share: the records, this run's stop signal, and the base URL for passlinks.
#[derive(Clone)]
struct App {
    state: StandinState,
    stop: CancellationToken,
    base_url: String,
}

impl ObicoStandin {
    /// Starts on a free port with empty records.
    pub async fn start() -> ObicoStandin {
        Self::start_with(StandinState::new(), 0).await
    }

    /// Starts on `port` with empty records.
    pub async fn start_on(port: u16) -> ObicoStandin {
        Self::start_with(StandinState::new(), port).await
    }

    /// Starts on `port` (0: any free port) with the records of `state`, as a server restarted
    /// on its old database: the printers and their tokens work again.
    pub async fn start_with(state: StandinState, port: u16) -> ObicoStandin {
        let (listener, port) = bind(port).await;
        let standin = ObicoStandin {
            state,
            port,
            running: Mutex::new(None),
        };
        standin.serve(listener);
        standin
    }

    /// The records, to hand to [`ObicoStandin::start_with`].
    pub fn state(&self) -> StandinState {
        self.state.clone()
    }

    /// The port it listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`: the server URL an agent is configured with.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `ws://127.0.0.1:PORT/ws/dev/`: the agents' websocket.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws/dev/", self.port)
    }

    /// Whether it listens now.
    pub fn is_listening(&self) -> bool {
        self.running().is_some()
    }

    fn running(&self) -> MutexGuard<'_, Option<Listening>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let stop = CancellationToken::new();
        let app = App {
            state: self.state.clone(),
            stop: stop.clone(),
            base_url: self.base_url(),
        };
        let service = router(app).into_make_service_with_connect_info::<SocketAddr>();
        let shutdown = stop.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, service)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await;
        });
        *self.running() = Some(Listening { stop, task });
    }

    /// Stops serving, as a server going down: the port is closed, idle HTTP connections are
    /// closed, and every websocket is dropped without a close frame. Returns once no socket is
    /// open. The records stay.
    pub async fn stop(&self) {
        let Some(listening) = self.running().take() else {
            return;
        };
        listening.stop.cancel();
        let mut task = listening.task;
        // Graceful shutdown ends once in-flight requests are answered; the stand-in answers
        // at once, so a wait means something hangs, and the port must be freed anyway.
        if tokio::time::timeout(Duration::from_secs(5), &mut task)
            .await
            .is_err()
        {
            task.abort();
            let _ = task.await;
        }
        self.wait_until(
            "every socket closed after stop",
            Duration::from_secs(5),
            |s| {
                s.state
                    .read()
                    .printers
                    .values()
                    .all(|p| p.socket.is_none())
                    .then_some(())
            },
        )
        .await;
    }

    /// Listens again on the same port after [`ObicoStandin::stop`].
    pub async fn listen(&self) {
        assert!(!self.is_listening(), "the stand-in is listening already");
        let (listener, _) = bind(self.port).await;
        self.serve(listener);
    }

    /// Stops, stays down for `down`, and listens again on the same port: a server restart, for
    /// testing the agent's reconnect and backoff.
    pub async fn restart(&self, down: Duration) {
        self.stop().await;
        tokio::time::sleep(down).await;
        self.listen().await;
    }

    // ---- Printers -------------------------------------------------------------------------

    /// Creates a printer as if linked already (named `name`, or `Printer <id>`), for tests that
    /// start from a configured token.
    pub fn create_printer(&self, name: Option<&str>) -> PrinterInfo {
        self.state.change(|s| s.create_printer(name))
    }

    /// Every printer ever created, revoked ones included, by id.
    pub fn printers(&self) -> Vec<PrinterInfo> {
        let s = self.state.read();
        s.printers.values().map(|p| p.info.clone()).collect()
    }

    /// One printer.
    pub fn printer(&self, id: PrinterId) -> Option<PrinterInfo> {
        self.state.read().printers.get(&id).map(|p| p.info.clone())
    }

    /// The printer whose token is `token` (revoked or not).
    pub fn printer_by_token(&self, token: &str) -> Option<PrinterId> {
        let s = self.state.read();
        let found = s.printers.values().find(|p| p.info.auth_token == token);
        found.map(|p| p.info.id)
    }

    /// The printer named `name` now (the first, if several are).
    pub fn printer_by_name(&self, name: &str) -> Option<PrinterId> {
        let s = self.state.read();
        let found = s.printers.values().find(|p| p.info.name == name);
        found.map(|p| p.info.id)
    }

    /// Deletes a printer, as the user does in the app: its token is refused from now on (401
    /// on REST, 403 on the websocket) and its open socket is closed with [`CLOSE_REVOKED`].
    pub fn revoke(&self, printer: PrinterId) {
        self.state.change(|s| {
            let entry = s.printers.get_mut(&printer).expect("no such printer");
            entry.info.revoked = true;
            if let Some(socket) = &entry.socket {
                let _ = socket
                    .outbox
                    .send(Outgoing::Close(CLOSE_REVOKED, Closed::Revoked));
            }
        });
    }

    // ---- Linking --------------------------------------------------------------------------

    /// A 6-digit code as the app shows it to the user: verifying it once creates a printer
    /// and answers its token; then it is spent.
    pub fn issue_code(&self) -> String {
        self.state.change(|s| s.issue_code(None))
    }

    /// The user types `passcode` (shown by the agent) in the app: the polls of the device it
    /// was given to answer a `verification_code` from now on, until that code is used.
    /// Returns that code, or why the app would refuse the passcode.
    pub fn enter_passcode(&self, passcode: &str) -> Result<String, String> {
        self.state.change(|s| {
            let (now, lifetime) = (Instant::now(), s.passcode_lifetime);
            let device = s
                .devices
                .iter()
                .find(|(_, d)| {
                    !d.passcode.is_empty()
                        && d.passcode == passcode
                        && now < d.passcode_given + lifetime
                })
                .map(|(id, _)| id.clone())
                .ok_or_else(|| format!("no device shows passcode {passcode:?}"))?;
            let code = s.issue_code(Some(&device));
            s.devices.get_mut(&device).unwrap().verification_code = Some(code.clone());
            Ok(code)
        })
    }

    /// The app, having found the device on the LAN and read its discovery secret, queues a
    /// `verify_code` message for the device's next poll. Returns the code in it.
    pub fn discover(&self, device_id: &str, secret: &str) -> String {
        self.state.change(|s| {
            let code = s.issue_code(None);
            let message = json!({
                "device_id": device_id,
                "type": "verify_code",
                "data": {"code": code, "secret": secret, "device_id": device_id},
            });
            let device = s.devices.entry(device_id.to_owned());
            device.or_insert_with(Device::new).messages.push(message);
            code
        })
    }

    /// The passcode the server gave `device_id`, if it polled.
    pub fn passcode_of(&self, device_id: &str) -> Option<String> {
        let s = self.state.read();
        let device = s.devices.get(device_id).filter(|d| !d.passcode.is_empty());
        device.map(|d| d.passcode.clone())
    }

    /// Every `/unlinked/` request so far, in order.
    pub fn unlinked_polls(&self) -> Vec<UnlinkedPoll> {
        self.state.read().unlinked.clone()
    }

    /// Every `/verify/` request so far, in order.
    pub fn verify_calls(&self) -> Vec<VerifyCall> {
        self.state.read().verifies.clone()
    }

    /// Every HTTP request so far, in order.
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.state.read().requests.clone()
    }

    /// Sets the anonymous rate limit of `/unlinked/` and `/verify/`: `n` requests per client
    /// IP in any `window`. Requests already counted stay counted.
    pub fn set_anonymous_limit(&self, n: u32, window: Duration) {
        self.state.change(|s| s.anonymous_limit = (n, window));
    }

    /// How many anonymous requests were answered 429.
    pub fn anonymous_refusals(&self) -> u64 {
        self.state.read().anonymous_refusals
    }

    /// Sets how long a device keeps its passcode (from its first poll).
    pub fn set_passcode_lifetime(&self, lifetime: Duration) {
        self.state.change(|s| s.passcode_lifetime = lifetime);
    }

    // ---- REST records ---------------------------------------------------------------------

    /// Caps the pictures a printer may post in any minute (`None`: no cap, the default); one
    /// over is answered 429 and not recorded.
    pub fn set_pic_limit(&self, per_minute: Option<u32>) {
        self.state.change(|s| s.pic_limit = per_minute);
    }

    /// The pictures accepted from `printer`, in order.
    pub fn pics(&self, printer: PrinterId) -> Vec<Pic> {
        let s = self.state.read();
        s.pics
            .iter()
            .filter(|p| p.printer == printer)
            .cloned()
            .collect()
    }

    /// How many pictures of `printer` were answered 429.
    pub fn pic_refusals(&self, printer: PrinterId) -> u64 {
        let s = self.state.read();
        s.printers.get(&printer).map_or(0, |p| p.pic_refusals)
    }

    /// The events accepted from `printer`, in order.
    pub fn events(&self, printer: PrinterId) -> Vec<PrinterEvent> {
        let s = self.state.read();
        s.events
            .iter()
            .filter(|e| e.printer == printer)
            .cloned()
            .collect()
    }

    /// The G-code files of `printer`, in creation order.
    pub fn g_code_files(&self, printer: PrinterId) -> Vec<GcodeFile> {
        let s = self.state.read();
        s.files
            .iter()
            .filter(|f| f.printer == printer)
            .cloned()
            .collect()
    }

    // ---- Websocket records ----------------------------------------------------------------

    /// The frames received from `printer`, in order (dropped and malformed ones aside).
    pub fn frames(&self, printer: PrinterId) -> Vec<Frame> {
        let s = self.state.read();
        s.frames
            .iter()
            .filter(|f| f.printer == printer)
            .cloned()
            .collect()
    }

    /// The status frames of `printer` that were dropped for lacking `status._ts`.
    pub fn dropped_frames(&self, printer: PrinterId) -> Vec<Frame> {
        let s = self.state.read();
        s.dropped
            .iter()
            .filter(|f| f.printer == printer)
            .cloned()
            .collect()
    }

    /// The frames of `printer` that were not JSON text.
    pub fn malformed_frames(&self, printer: PrinterId) -> Vec<RawFrame> {
        let s = self.state.read();
        let frames = s.malformed.iter().filter(|f| f.printer == printer);
        frames.cloned().collect()
    }

    /// The prints of `printer`, in the order they opened.
    pub fn prints(&self, printer: PrinterId) -> Vec<Print> {
        let s = self.state.read();
        s.prints
            .iter()
            .filter(|p| p.printer == printer)
            .cloned()
            .collect()
    }

    /// The open print of `printer`, if any.
    pub fn open_print(&self, printer: PrinterId) -> Option<Print> {
        self.state.read().open_print(printer).cloned()
    }

    /// The websocket connections of `printer`, in the order they opened.
    pub fn connections(&self, printer: PrinterId) -> Vec<Connection> {
        let s = self.state.read();
        let connections = s.connections.iter().filter(|c| c.printer == printer);
        connections.cloned().collect()
    }

    /// When each websocket connection of `printer` opened.
    pub fn connects(&self, printer: PrinterId) -> Vec<Instant> {
        self.connections(printer)
            .iter()
            .map(|c| c.opened_at)
            .collect()
    }

    /// Whether `printer` has an open socket.
    pub fn is_connected(&self, printer: PrinterId) -> bool {
        let s = self.state.read();
        s.printers.get(&printer).is_some_and(|p| p.socket.is_some())
    }

    /// The frames sent to `printer`, in order.
    pub fn sent(&self, printer: PrinterId) -> Vec<Sent> {
        let s = self.state.read();
        s.sent
            .iter()
            .filter(|m| m.printer == printer)
            .cloned()
            .collect()
    }

    /// What the server last told `printer` about the web app: `(viewing, should_watch)`.
    pub fn remote_status(&self, printer: PrinterId) -> (bool, bool) {
        let s = self.state.read();
        let entry = s.printers.get(&printer).expect("no such printer");
        (entry.viewing, entry.should_watch)
    }

    /// The agent name and version of `printer`'s last status frame with `settings.agent`.
    pub fn agent_of(&self, printer: PrinterId) -> (Option<String>, Option<String>) {
        let s = self.state.read();
        let entry = s.printers.get(&printer).expect("no such printer");
        (entry.agent_name.clone(), entry.agent_version.clone())
    }

    // ---- Server to agent ------------------------------------------------------------------

    /// Sends a print command as the web app's buttons or the failure detector do
    /// (`initiator` `"api"` or `"system"`). A pause without an open print is refused, as the
    /// real server's REST API refuses it; so is any command to a printer without a socket.
    pub fn command(&self, printer: PrinterId, cmd: &str, initiator: &str) -> Result<(), String> {
        self.state.change(|s| {
            if cmd == "pause" && s.open_print(printer).is_none() {
                return Err(format!("printer {printer} is not printing"));
            }
            let message = json!({
                "commands": [{
                    "cmd": cmd,
                    "args": {
                        "retract": RETRACT_ON_PAUSE,
                        "lift_z": LIFT_Z_ON_PAUSE,
                        "tools_off": TOOLS_OFF_ON_PAUSE,
                        "bed_off": BED_OFF_ON_PAUSE,
                    },
                    "initiator": initiator,
                }],
                "type": "printer.message",
            });
            s.send(printer, message.to_string())
        })
    }

    /// Someone opens (`true`) or leaves the printer's page in the app. The state is kept and
    /// sent again on the next connect; the result says whether a socket got it now.
    pub fn set_viewing(&self, printer: PrinterId, viewing: bool) -> Result<(), String> {
        self.remote_status_update(printer, "viewing", viewing)
    }

    /// The server wants pictures (`true`: the failure detector watches this print), kept and
    /// sent like [`ObicoStandin::set_viewing`].
    pub fn set_should_watch(&self, printer: PrinterId, should_watch: bool) -> Result<(), String> {
        self.remote_status_update(printer, "should_watch", should_watch)
    }

    fn remote_status_update(
        &self,
        printer: PrinterId,
        key: &str,
        value: bool,
    ) -> Result<(), String> {
        self.state.change(|s| {
            let entry = s.printers.get_mut(&printer).expect("no such printer");
            match key {
                "viewing" => entry.viewing = value,
                _ => entry.should_watch = value,
            }
            let message = json!({"remote_status": {key: value}, "type": "printer.message"});
            s.send(printer, message.to_string())
        })
    }

    /// Sends `text` as it is: for frames the agent must survive.
    pub fn send_raw(&self, printer: PrinterId, text: &str) -> Result<(), String> {
        self.state.change(|s| s.send(printer, text.to_owned()))
    }

    /// Calls `target.func(*args, **kwargs)` on the agent as the web app does, and waits up to
    /// `timeout` for the reply: `Ok(ret)` or `Err(error)` as the agent answered.
    ///
    /// Panics when the printer has no socket or no reply comes in time: a passthru that goes
    /// unanswered is a failure of the test, not an error answer of the agent.
    pub async fn passthru(
        &self,
        printer: PrinterId,
        target: &str,
        func: &str,
        args: Value,
        kwargs: Value,
        timeout: Duration,
    ) -> Result<Value, String> {
        let (reply, waiting) = oneshot::channel();
        let reference = self.state.change(|s| {
            let reference = format!(
                "standin-{}-{}",
                s.next_ref,
                random_string(6, b"abcdef0123456789")
            );
            s.next_ref += 1;
            s.passthru.insert(reference.clone(), reply);
            let message = json!({"passthru": {
                "ref": reference, "target": target, "func": func, "args": args, "kwargs": kwargs,
            }});
            if let Err(e) = s.send(printer, message.to_string()) {
                panic!("passthru {target}.{func}: {e}");
            }
            reference
        });
        match tokio::time::timeout(timeout, waiting).await {
            Ok(Ok(result)) => result,
            _ => {
                self.state.change(|s| s.passthru.remove(&reference));
                let call =
                    format!("passthru {target}.{func} (ref {reference}) to printer {printer}");
                panic!("{call}: no reply within {timeout:?}\n{}", self.summary())
            }
        }
    }

    // ---- Waiting --------------------------------------------------------------------------

    /// A summary of the records, for failure messages.
    pub fn summary(&self) -> String {
        self.state.read().summary()
    }

    /// Waits until `check` returns a value, re-checking after every change of the records;
    /// fails the test after `timeout` with `what` and a summary of the records.
    pub async fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&ObicoStandin) -> Option<T>,
    ) -> T {
        let mut changes = self.state.0.changes.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(v) = check(self) {
                return v;
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n{}",
                    self.summary()
                );
            }
        }
    }

    /// Waits until `printer` sent `n` frames (dropped and malformed ones aside); returns all of
    /// them.
    pub async fn wait_frames(&self, printer: PrinterId, n: usize, timeout: Duration) -> Vec<Frame> {
        let what = format!("{n} frames from printer {printer}");
        self.wait_until(&what, timeout, |s| {
            let frames = s.frames(printer);
            (frames.len() >= n).then_some(frames)
        })
        .await
    }

    /// Waits until `printer` sent a frame for which `matches` holds; returns the first such.
    pub async fn wait_frame(
        &self,
        printer: PrinterId,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Frame {
        let what = format!("a frame from printer {printer}: {what}");
        self.wait_until(&what, timeout, |s| {
            s.frames(printer).into_iter().find(|f| matches(&f.json))
        })
        .await
    }

    /// Waits until `printer` has an open socket; returns its connection.
    pub async fn wait_connected(&self, printer: PrinterId, timeout: Duration) -> Connection {
        let what = format!("printer {printer} connected");
        self.wait_until(&what, timeout, |s| {
            let last = s.connections(printer).pop();
            last.filter(|c| c.closed.is_none())
        })
        .await
    }

    /// Waits until `printer` opened `n` connections in all; returns when each opened.
    pub async fn wait_connects(
        &self,
        printer: PrinterId,
        n: usize,
        timeout: Duration,
    ) -> Vec<Instant> {
        let what = format!("{n} connections of printer {printer}");
        self.wait_until(&what, timeout, |s| {
            let connects = s.connects(printer);
            (connects.len() >= n).then_some(connects)
        })
        .await
    }

    /// Waits until `printer` has no open socket; returns its last connection.
    pub async fn wait_disconnected(&self, printer: PrinterId, timeout: Duration) -> Connection {
        let what = format!("printer {printer} disconnected");
        self.wait_until(&what, timeout, |s| {
            let last = s.connections(printer).pop();
            last.filter(|c| c.closed.is_some())
        })
        .await
    }

    /// Waits until `n` printers exist (linking done); returns them.
    pub async fn wait_printers(&self, n: usize, timeout: Duration) -> Vec<PrinterInfo> {
        self.wait_until(&format!("{n} printers"), timeout, |s| {
            let printers = s.printers();
            (printers.len() >= n).then_some(printers)
        })
        .await
    }

    /// Waits until `n` `/unlinked/` requests came; returns all of them.
    pub async fn wait_unlinked_polls(&self, n: usize, timeout: Duration) -> Vec<UnlinkedPoll> {
        self.wait_until(&format!("{n} /unlinked/ polls"), timeout, |s| {
            let polls = s.unlinked_polls();
            (polls.len() >= n).then_some(polls)
        })
        .await
    }

    /// Waits until `n` pictures of `printer` were accepted; returns all of them.
    pub async fn wait_pics(&self, printer: PrinterId, n: usize, timeout: Duration) -> Vec<Pic> {
        let what = format!("{n} pictures from printer {printer}");
        self.wait_until(&what, timeout, |s| {
            let pics = s.pics(printer);
            (pics.len() >= n).then_some(pics)
        })
        .await
    }

    /// Waits until `n` events of `printer` were accepted; returns all of them.
    pub async fn wait_events(
        &self,
        printer: PrinterId,
        n: usize,
        timeout: Duration,
    ) -> Vec<PrinterEvent> {
        let what = format!("{n} events from printer {printer}");
        self.wait_until(&what, timeout, |s| {
            let events = s.events(printer);
            (events.len() >= n).then_some(events)
        })
        .await
    }

    /// Waits until `printer` has an open print; returns it.
    pub async fn wait_open_print(&self, printer: PrinterId, timeout: Duration) -> Print {
        let what = format!("an open print on printer {printer}");
        self.wait_until(&what, timeout, |s| s.open_print(printer))
            .await
    }
}

/// Binds 127.0.0.1:`port` (0: a free port). A port just freed by `stop` may be held for a
/// moment by connections still closing, so binding is retried for a few seconds.
async fn bind(port: u16) -> (tokio::net::TcpListener, u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(listener) => {
                let port = listener.local_addr().expect("bound address").port();
                return (listener, port);
            }
            Err(_) if Instant::now() < deadline && port != 0 => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the Obico stand-in cannot listen on 127.0.0.1:{port}: {e}"),
        }
    }
}

fn router(app: App) -> Router {
    Router::new()
        .route("/api/v1/octo/verify/", get(verify).post(verify))
        .route("/api/v1/octo/unlinked/", post(unlinked))
        .route(
            "/api/v1/octo/printer/",
            get(printer_get).patch(printer_patch),
        )
        .route("/api/v1/octo/ping/", get(printer_get))
        .route("/api/v1/octo/pic/", post(pic))
        .route("/api/v1/octo/printer_events/", post(printer_events))
        .route("/api/v1/octo/g_code_files/", post(g_code_files))
        .route("/ws/dev/", get(ws_dev))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            log_request,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}

/// Writes every request down with its answer.
async fn log_request(State(app): State<App>, request: Request, next: Next) -> Response {
    let at = Instant::now();
    let method = request.method().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path().to_owned(), |p| p.to_string());
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, token)| token.trim().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    app.state.change(|s| {
        let printer = token.and_then(|t| {
            let found = s.printers.values().find(|p| p.info.auth_token == t);
            found.map(|p| p.info.id)
        });
        s.requests.push(HttpRequest {
            at,
            method,
            path,
            printer,
            status,
        });
    });
    response
}

/// `{"detail": …}` with `status`: how Django REST framework words its errors.
fn detail(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "detail": text }))).into_response()
}

/// An uncaught exception on the real server: a 500 with an HTML page, not JSON, which an agent
/// must not try to parse as an answer.
fn server_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/html")],
        "<h1>Server Error (500)</h1>",
    )
        .into_response()
}

/// The anonymous throttle of `/unlinked/` and `/verify/`: takes a slot for `peer`'s IP, or
/// answers how long until one is free (for [`throttled`]).
fn throttle(app: &App, peer: SocketAddr) -> Option<Duration> {
    app.state.change(|s| {
        let (limit, window) = s.anonymous_limit;
        let window_of_ip = s.anonymous.entry(peer.ip()).or_insert_with(Window::new);
        let refused = window_of_ip.take(Instant::now(), limit, window).err();
        if refused.is_some() {
            s.anonymous_refusals += 1;
        }
        refused
    })
}

/// The 429 of a throttle, worded and with `Retry-After` as Django REST framework does.
fn throttled(wait: Duration) -> Response {
    let seconds = wait.as_secs_f64().ceil() as u64;
    let unit = if seconds == 1 { "second" } else { "seconds" };
    let mut response = detail(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("Request was throttled. Expected available in {seconds} {unit}."),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// `GET|POST /api/v1/octo/verify/?code=NNNNNN`: a code's first use creates the printer.
async fn verify(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let code = query.get("code").cloned();
    let at = Instant::now();
    let answer = match throttle(&app, peer) {
        Some(wait) => throttled(wait),
        None => app.state.change(|s| {
            let entry = code
                .as_deref()
                .and_then(|c| s.codes.get_mut(c))
                .filter(|e| !e.used);
            let Some(entry) = entry else {
                return detail(StatusCode::NOT_FOUND, "Requested resource does not exist");
            };
            entry.used = true;
            let (code_id, device) = (entry.id, entry.device.clone());
            if let Some(device) = device.and_then(|d| s.devices.get_mut(&d)) {
                device.verification_code = None;
            }
            let info = s.create_printer(None);
            let now = iso8601(SystemTime::now());
            let printer = printer_json(&s.printers[&info.id], true);
            Json(json!({
                "id": code_id,
                "printer": printer,
                "code": code,
                "expired_at": now,
                "verified_at": now,
            }))
            .into_response()
        }),
    };
    let status = answer.status().as_u16();
    app.state
        .change(|s| s.verifies.push(VerifyCall { at, code, status }));
    answer
}

/// Whether `id` is a uuid4 hex: 32 hex digits.
fn is_device_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `POST /api/v1/octo/unlinked/`: an unlinked agent's poll. A bad `device_id` is answered 400
/// with a field error in Django REST framework's shape (the wording is the stand-in's).
async fn unlinked(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let answer = match throttle(&app, peer) {
        Some(wait) => throttled(wait),
        None => unlinked_answer(&app, json.as_ref()),
    };
    let status = answer.status().as_u16();
    app.state.change(|s| {
        s.unlinked.push(UnlinkedPoll {
            at,
            body: json.unwrap_or(Value::Null),
            status,
        })
    });
    answer
}

fn unlinked_answer(app: &App, body: Option<&Value>) -> Response {
    let Some(body) = body.filter(|b| b.is_object()) else {
        return detail(StatusCode::BAD_REQUEST, "JSON parse error");
    };
    let device_id = match body.get("device_id").and_then(Value::as_str) {
        Some(id) if is_device_id(id) => id.to_owned(),
        _ => {
            let error = "device_id must be 32 hexadecimal characters (a uuid4 hex).";
            let body = json!({ "device_id": [error] });
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
    };
    // As checked against the real server: without host_or_ip it fails, with a 500.
    if body.get("host_or_ip").is_none() {
        return server_error();
    }
    // As the real server: the passcode fields answer only an agent that sends
    // `one_time_passcode`. A passcode it sends back that is still alive is kept (with the
    // verification code once the user typed it); an empty, unknown or expired one is replaced.
    let sent = body
        .get("one_time_passcode")
        .map(|p| p.as_str().unwrap_or_default().to_owned());
    app.state.change(|s| {
        let now = Instant::now();
        let lifetime = s.passcode_lifetime;
        let taken: Vec<String> = s.devices.values().map(|d| d.passcode.clone()).collect();
        let device = s.devices.entry(device_id).or_insert_with(Device::new);
        let messages = std::mem::take(&mut device.messages);
        let Some(sent) = sent else {
            return Json(json!({ "messages": messages })).into_response();
        };
        let alive = !device.passcode.is_empty() && now < device.passcode_given + lifetime;
        if !(alive && device.passcode == sent) {
            device.passcode = loop {
                let p = random_string(5, b"abcdefghijklmnopqrstuvwxyz0123456789");
                if !taken.contains(&p) {
                    break p;
                }
            };
            device.passcode_given = now;
            device.verification_code = None;
        }
        let passlink = format!(
            "{}/otp/?one_time_passcode={}",
            app.base_url, device.passcode
        );
        Json(json!({
            "messages": messages,
            "one_time_passcode": device.passcode,
            "one_time_passlink": passlink,
            "verification_code": device.verification_code.clone().unwrap_or_default(),
        }))
        .into_response()
    })
}

/// The printer as the real server serialises it (the verify answer holds the token; the
/// printer view does not).
fn printer_json(p: &PrinterEntry, with_token: bool) -> Value {
    let mut v = json!({
        "id": p.info.id,
        "name": p.info.name,
        "created_at": iso8601(p.created_at),
        "action_on_failure": "PAUSE",
        "watching_enabled": true,
        "not_watching_reason": "Printer is not actively printing",
        "tools_off_on_pause": TOOLS_OFF_ON_PAUSE,
        "bed_off_on_pause": BED_OFF_ON_PAUSE,
        "retract_on_pause": RETRACT_ON_PAUSE,
        "lift_z_on_pause": LIFT_Z_ON_PAUSE,
        "detective_sensitivity": 1.0,
        "min_timelapse_secs_on_finish": 600,
        "min_timelapse_secs_on_cancel": 300,
        "archived_at": null,
        "agent_name": p.agent_name,
        "agent_version": p.agent_version,
        "pic": null,
        "status": null,
        "settings": {
            "webcam_flipV": false,
            "webcam_flipH": false,
            "webcam_rotate90": false,
            "webcam_rotation": 0,
            "webcam_streamRatio": "16:9",
            "ratio169": true,
        },
        "current_print": null,
        "normalized_p": 0,
    });
    if with_token {
        v["auth_token"] = json!(p.info.auth_token);
    }
    v
}

/// The REST authentication: the printer of `Authorization: Token <auth_token>`, if it is not
/// deleted (else answer [`unauthorized`]).
fn authenticate(app: &App, headers: &HeaderMap) -> Option<PrinterId> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(keyword, _)| keyword.eq_ignore_ascii_case("token"))
        .map(|(_, token)| token.trim())?;
    app.state.read().live_printer(token)
}

/// The real server's answer to a missing, unknown or deleted token.
fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "Invalid or Inactive Token", "is_authenticated": "False"})),
    )
        .into_response()
}

fn printer_view(app: &App, printer: PrinterId) -> Response {
    let s = app.state.read();
    let mut p = printer_json(&s.printers[&printer], false);
    p["is_pro"] = json!(false);
    Json(json!({"user": {"is_pro": false}, "printer": p})).into_response()
}

/// `GET /api/v1/octo/printer/` and `/api/v1/octo/ping/`.
async fn printer_get(State(app): State<App>, headers: HeaderMap) -> Response {
    match authenticate(&app, &headers) {
        Some(printer) => printer_view(&app, printer),
        None => unauthorized(),
    }
}

/// `PATCH /api/v1/octo/printer/` `{"name": …}`.
async fn printer_patch(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(printer) = authenticate(&app, &headers) else {
        return unauthorized();
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return detail(StatusCode::BAD_REQUEST, "JSON parse error");
    };
    if let Some(name) = body.get("name") {
        match name.as_str().map(str::trim).filter(|n| !n.is_empty()) {
            Some(name) => app.state.change(|s| {
                s.printers.get_mut(&printer).unwrap().info.name = name.to_owned();
            }),
            None => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"name": ["This field may not be blank."]})),
                )
                    .into_response()
            }
        }
    }
    printer_view(&app, printer)
}

/// A form as Django parses it: text fields, and files (parts with a file name).
#[derive(Default)]
struct Form {
    fields: BTreeMap<String, String>,
    files: BTreeMap<String, Bytes>,
}

/// Reads a multipart or URL-encoded body.
async fn read_form(headers: &HeaderMap, body: Bytes) -> Result<Form, Response> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut form = Form::default();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        form.fields = url::form_urlencoded::parse(&body).into_owned().collect();
        return Ok(form);
    }
    let Ok(boundary) = multer::parse_boundary(content_type) else {
        return Err(detail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("Unsupported media type \"{content_type}\" in request."),
        ));
    };
    let stream = futures::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let bad = |e: multer::Error| {
        detail(
            StatusCode::BAD_REQUEST,
            &format!("Multipart form parse error - {e}"),
        )
    };
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        if field.file_name().is_some() {
            form.files.insert(name, field.bytes().await.map_err(bad)?);
        } else {
            form.fields.insert(name, field.text().await.map_err(bad)?);
        }
    }
    Ok(form)
}

/// `POST /api/v1/octo/pic/`: a webcam picture.
async fn pic(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(printer) = authenticate(&app, &headers) else {
        return unauthorized();
    };
    let mut form = match read_form(&headers, body).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    let Some(picture) = form.files.remove("pic") else {
        return detail(StatusCode::BAD_REQUEST, "pic is required");
    };
    let refused = app.state.change(|s| {
        let at = Instant::now();
        let limit = s.pic_limit.unwrap_or(u32::MAX);
        let entry = s.printers.get_mut(&printer).unwrap();
        let minute = Duration::from_secs(60);
        if let Err(wait) = entry.pics_last_minute.take(at, limit, minute) {
            entry.pic_refusals += 1;
            return Some(wait);
        }
        s.pics.push(Pic {
            at,
            printer,
            size: picture.len(),
            jpeg: picture.starts_with(&[0xFF, 0xD8, 0xFF]),
            fields: form.fields,
        });
        None
    });
    match refused {
        Some(wait) => throttled(wait),
        None => Json(json!({"result": "ok"})).into_response(),
    }
}

/// The `event_class` values the real server stores.
const EVENT_CLASSES: [&str; 4] = ["ERROR", "WARNING", "SUCCESS", "INFO"];

/// `POST /api/v1/octo/printer_events/`: an event for the user's notifications. Missing fields
/// and an unknown `event_class` are answered 400 in Django REST framework's shape; an accepted
/// event `{"result": "ok"}` (the reference names no answer: an agent should take any 2xx).
async fn printer_events(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(printer) = authenticate(&app, &headers) else {
        return unauthorized();
    };
    let mut form = match read_form(&headers, body).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    let mut errors = serde_json::Map::new();
    for field in ["event_type", "event_class", "event_title", "event_text"] {
        if form.fields.get(field).is_none_or(|v| v.is_empty()) {
            errors.insert(field.into(), json!(["This field is required."]));
        }
    }
    if let Some(class) = form.fields.get("event_class") {
        if !class.is_empty() && !EVENT_CLASSES.contains(&class.as_str()) {
            errors.insert(
                "event_class".into(),
                json!([format!("\"{class}\" is not a valid choice.")]),
            );
        }
    }
    if !errors.is_empty() {
        return (StatusCode::BAD_REQUEST, Json(Value::Object(errors))).into_response();
    }
    let snapshot = form.files.remove("snapshot").map(|s| s.len());
    app.state.change(|s| {
        s.events.push(PrinterEvent {
            at: Instant::now(),
            printer,
            fields: form.fields,
            snapshot,
        })
    });
    Json(json!({"result": "ok"})).into_response()
}

/// `POST /api/v1/octo/g_code_files/`: upserts by (printer, safe_filename, agent_signature).
async fn g_code_files(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(printer) = authenticate(&app, &headers) else {
        return unauthorized();
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return detail(StatusCode::BAD_REQUEST, "JSON parse error");
    };
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut errors = serde_json::Map::new();
    for key in ["filename", "safe_filename", "agent_signature"] {
        if text(key).is_none_or(|v| v.is_empty()) {
            errors.insert(key.into(), json!(["This field is required."]));
        }
    }
    let num_bytes = body.get("num_bytes").and_then(Value::as_u64);
    if num_bytes.is_none() {
        errors.insert("num_bytes".into(), json!(["A valid integer is required."]));
    }
    if !errors.is_empty() {
        return (StatusCode::BAD_REQUEST, Json(Value::Object(errors))).into_response();
    }
    let (filename, safe_filename, agent_signature) = (
        text("filename").unwrap(),
        text("safe_filename").unwrap(),
        text("agent_signature").unwrap(),
    );
    let url = text("url").unwrap_or_default();
    let num_bytes = num_bytes.unwrap();
    let (status, file) = app.state.change(|s| {
        let existing = s.files.iter_mut().find(|f| {
            f.printer == printer
                && f.safe_filename == safe_filename
                && f.agent_signature == agent_signature
        });
        if let Some(f) = existing {
            f.filename = filename;
            f.num_bytes = num_bytes;
            f.url = url;
            f.posts += 1;
            return (StatusCode::OK, f.clone());
        }
        let file = GcodeFile {
            id: s.next_file,
            printer,
            filename,
            safe_filename,
            num_bytes,
            agent_signature,
            url,
            posts: 1,
        };
        s.next_file += 1;
        s.files.push(file.clone());
        (StatusCode::CREATED, file)
    });
    let answer = json!({
        "id": file.id,
        "resident_printer": file.printer,
        "filename": file.filename,
        "safe_filename": file.safe_filename,
        "num_bytes": file.num_bytes,
        "agent_signature": file.agent_signature,
        "url": file.url,
    });
    (status, Json(answer)).into_response()
}

/// `GET /ws/dev/`: an agent's websocket. The token is checked before the upgrade, as the
/// real server's consumer does: its handshake fails with 500 when the header is missing or
/// not spelled `bearer` in lower case, 403 when the token is unknown.
async fn ws_dev(
    State(app): State<App>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bearer "));
    let Some(token) = token else {
        return server_error();
    };
    let Some(printer) = app.state.read().live_printer(token.trim()) else {
        return StatusCode::FORBIDDEN.into_response();
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    upgrade.on_upgrade(move |socket| serve_socket(app, printer, socket))
}

/// Serves one agent socket until it closes, the server closes it, or the stand-in stops.
async fn serve_socket(app: App, printer: PrinterId, mut socket: WebSocket) {
    let (outbox, mut queued) = mpsc::unbounded_channel();
    let Some(connection) = app.state.change(|s| s.open_socket(printer, outbox)) else {
        // Deleted between the handshake and now.
        let _ = socket.send(close_frame(CLOSE_REVOKED)).await;
        return;
    };
    let closed = loop {
        tokio::select! {
            _ = app.stop.cancelled() => break Closed::Stopped,
            out = queued.recv() => {
                if let Some(closed) = deliver(&mut socket, out).await {
                    break closed;
                }
            }
            incoming = socket.recv() => {
                if let Some(closed) = take_in(&app, printer, &mut socket, incoming).await {
                    break closed;
                }
            }
        }
    };
    drop(socket);
    app.state
        .change(|s| s.close_socket(printer, connection, closed));
}

fn close_frame(code: u16) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: "".into(),
    }))
}

/// Sends what the test queued for the agent; `Some` once the socket is done.
async fn deliver(socket: &mut WebSocket, out: Option<Outgoing>) -> Option<Closed> {
    match out {
        Some(Outgoing::Text(text)) => {
            let sent = socket.send(Message::Text(text.into())).await;
            sent.err().map(|_| Closed::Lost)
        }
        Some(Outgoing::Close(code, why)) => {
            let _ = socket.send(close_frame(code)).await;
            // Read on until the agent answers the close, so that it gets to read the code.
            let _ = tokio::time::timeout(CLOSE_HANDSHAKE_WAIT, async {
                while let Some(Ok(_)) = socket.recv().await {}
            })
            .await;
            Some(why)
        }
        // The outbox is dropped only after a close was queued in it.
        None => Some(Closed::Lost),
    }
}

/// Takes in what the agent sent; `Some` once the socket is done.
async fn take_in(
    app: &App,
    printer: PrinterId,
    socket: &mut WebSocket,
    incoming: Option<Result<Message, axum::Error>>,
) -> Option<Closed> {
    match incoming {
        Some(Ok(Message::Text(text))) => app.state.change(|s| s.receive(printer, text.as_str())),
        Some(Ok(Message::Binary(bytes))) => app.state.change(|s| {
            let text = format!("<binary, {} bytes>", bytes.len());
            s.malformed.push(RawFrame {
                at: Instant::now(),
                printer,
                text,
            });
        }),
        Some(Ok(Message::Close(frame))) => {
            // The socket queued the close reply; it must go out before the connection is
            // dropped, so the agent sees a clean close.
            let _ = tokio::time::timeout(CLOSE_HANDSHAKE_WAIT, socket.flush()).await;
            return Some(Closed::Agent(frame.map(|f| f.code)));
        }
        // Pings are answered by the socket itself.
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
        Some(Err(_)) | None => return Some(Closed::Lost),
    }
    None
}

/// `n` characters drawn from `alphabet`.
fn random_string(n: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// A time as Django REST framework writes it: `2025-02-10T21:49:02.834292Z`.
fn iso8601(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let in_day = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60,
        since.subsec_micros()
    )
}

/// The Gregorian date of a day counted from 1970-01-01, by the usual era arithmetic: eras
/// of 400 years (146 097 days) that start on 1 March, so the leap day ends each year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days from 0000-03-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_writes_dates_as_django_does() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        let t = UNIX_EPOCH + Duration::from_micros(1_739_224_142_834_292);
        assert_eq!(iso8601(t), "2025-02-10T21:49:02.834292Z");
        // A leap day and the day after.
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(iso8601(leap), "2000-02-29T00:00:00.000000Z");
        assert_eq!(
            iso8601(leap + Duration::from_secs(86_400)),
            "2000-03-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn the_window_refuses_one_over_the_limit_until_the_oldest_leaves() {
        let mut w = Window::new();
        let t0 = Instant::now();
        let minute = Duration::from_secs(60);
        assert!(w.take(t0, 2, minute).is_ok());
        assert!(w.take(t0 + Duration::from_secs(10), 2, minute).is_ok());
        let wait = w.take(t0 + Duration::from_secs(20), 2, minute).unwrap_err();
        assert_eq!(wait, Duration::from_secs(40));
        // A refusal is not remembered: the oldest leaves at 60 s and one slot is free.
        assert!(w.take(t0 + minute, 2, minute).is_ok());
        assert!(w.take(t0 + minute, 2, minute).is_err());
    }

    fn status(ts: Value, file: &str) -> Value {
        json!({"current_print_ts": ts, "status": {"_ts": 1.0, "job": {"file": {"name": file}}}})
    }

    #[test]
    fn current_print_ts_opens_keeps_replaces_and_closes_prints() {
        let mut s = Inner::new();
        let p = s.create_printer(None).id;
        let track = |s: &mut Inner, frame: Value| s.receive(p, &frame.to_string());
        let open = |s: &Inner| s.open_print(p).map(|x| (x.ts, x.filename.clone()));

        // A start time without a file name opens nothing.
        track(&mut s, status(json!(1000), ""));
        assert_eq!(open(&s), None);
        track(&mut s, status(json!(1000), "a.gcode"));
        assert_eq!(open(&s), Some((1000, "a.gcode".into())));
        // Within ±20 s: the same print, whatever the file says.
        track(&mut s, status(json!(1020), "b.gcode"));
        track(&mut s, status(json!(980), "b.gcode"));
        assert_eq!(open(&s), Some((1000, "a.gcode".into())));
        // Unknown leaves it alone.
        track(&mut s, status(Value::Null, "a.gcode"));
        track(&mut s, json!({"status": {"_ts": 2.0}}));
        assert_eq!(open(&s), Some((1000, "a.gcode".into())));
        // Further away: the old one closes, a new one opens.
        track(&mut s, status(json!(1021), "b.gcode"));
        assert_eq!(open(&s), Some((1021, "b.gcode".into())));
        // A status without _ts is dropped, so its -1 closes nothing.
        track(
            &mut s,
            json!({"current_print_ts": -1, "status": {"state": {}}}),
        );
        assert_eq!(open(&s), Some((1021, "b.gcode".into())));
        assert_eq!(s.dropped.len(), 1);
        track(&mut s, status(json!(-1), ""));
        assert_eq!(open(&s), None);
        let prints: Vec<_> = s
            .prints
            .iter()
            .map(|x| (x.ts, x.closed_at.is_some()))
            .collect();
        assert_eq!(prints, [(1000, true), (1021, true)]);
    }
}
