//! What the plugin keeps in its kv store, per printer. Instances keep nothing between calls, so
//! every fact that must outlive a call is here.
//!
//! Writers: the `link` record is written by the link routes and by the hooks when a link ends
//! (a refused token); everything else only by hooks, which the host runs one at a time, so their
//! read-modify-write cycles do not race each other.

use printfarm_sdk::{kv, HostError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A printer's link to the Obico server: its agent identity. The token is a secret: it is
/// stored here and sent to the server, never logged and never returned by a route.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Link {
    /// The printer's auth token (20 hex characters).
    pub token: String,
    /// The server it was issued by (normalised base URL).
    pub server: String,
    /// The printer's id on the server.
    pub obico_id: Option<i64>,
    /// The printer's name on the server.
    pub obico_name: Option<String>,
    /// When it was linked (ms since the epoch).
    pub linked_at_ms: u64,
}

/// The state of a linked printer's websocket.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Socket {
    /// No socket; one opens at `retry_at_ms`.
    #[default]
    Closed,
    /// The host opened it; frames flow.
    Open,
    /// The server closed it with 4321: the token connected from elsewhere. Not retried until the
    /// printer is linked again (the agents do not fight over a token either).
    UsedElsewhere,
}

/// A linked printer's live connection state (written by hooks only).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Conn {
    /// The socket state.
    pub socket: Socket,
    /// The host's id of the open socket.
    pub socket_id: Option<u64>,
    /// The token the socket was opened with: a new link (or a new server) reconnects.
    pub token: Option<String>,
    /// Failed connection attempts in a row (for the backoff).
    pub attempts: u32,
    /// When to try connecting again.
    pub retry_at_ms: u64,
    /// The last connection error and when (ms); cleared when a socket opens.
    pub error: Option<String>,
    /// When `error` happened.
    pub error_at_ms: Option<u64>,
    /// The server says someone looks at the printer in the app.
    pub viewing: bool,
    /// The server asks for snapshots (failure detection watches the print).
    pub should_watch: bool,
    /// When the last status frame went out.
    pub last_status_ms: u64,
    /// When the last snapshot went up.
    pub last_pic_ms: u64,
    /// Post a snapshot on the next tick (viewing started).
    pub pic_due: bool,
    /// The print the server was told of: its start (unix s), file and the server's file id.
    pub print: Option<PrintSeen>,
    /// What a pause from the server changed (retraction, lift, heaters), undone on its resume.
    pub pause_moves: Option<crate::pause_moves::PauseMoves>,
    /// The temperatures of the last frame (sensor, actual, target): a new target or a reading
    /// that moved far enough sends a frame before the period is over.
    #[serde(default)]
    pub sent_temps: Vec<(String, f64, Option<f64>)>,
}

/// A print as reported to the server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PrintSeen {
    /// Its start, unix seconds (`current_print_ts`).
    pub started_s: i64,
    /// The library file.
    pub file: String,
    /// The server's id of the file (`g_code_files`), once known.
    pub g_code_file_id: Option<i64>,
    /// Paused by the server's failure detection (for the notification when it resumes or ends).
    pub paused_by_detection: bool,
}

/// A passcode flow in progress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Passcode {
    /// The 5-character passcode the user types in the app.
    pub passcode: String,
    /// When the server said it expires (as the server wrote it), if it did.
    pub expires_at: Option<String>,
    /// When the flow started (ms).
    pub started_ms: u64,
}

/// The printer's agent identity for LAN discovery: stable across restarts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Device {
    /// 32 hex characters (a uuid4 without dashes), as the server requires.
    pub id: String,
    /// The secret the app fetches from `grab-discovery-secret` and the server hands back.
    pub secret: String,
}

/// Why a printer is not linked, when that needs saying (its token was refused, the server changed).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Unlinked {
    /// What happened.
    pub reason: String,
    /// When (ms).
    pub at_ms: u64,
}

/// The anonymous polling schedule shared by all printers (the server's rate limit is per address).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Polling {
    /// No anonymous call before this time (ms): the next slot, or the end of a 429's wait.
    pub next_ms: u64,
    /// Where the round-robin over waiting printers goes on.
    pub cursor: usize,
    /// 429s seen in a row (for the wait when the server names none).
    pub throttled: u32,
}

fn get<T: DeserializeOwned>(key: &str) -> Option<T> {
    kv::get_json(key).ok().flatten()
}

fn put<T: Serialize>(key: &str, value: &T) -> Result<(), HostError> {
    kv::set_json(key, value)
}

/// One kind of per-printer record, under `<prefix>/<printer>`.
macro_rules! per_printer {
    ($prefix:literal, $ty:ty, $load:ident, $save:ident, $clear:ident) => {
        #[doc = concat!("The `", $prefix, "` record of a printer.")]
        pub fn $load(printer: &str) -> Option<$ty> {
            get(&format!(concat!($prefix, "/{}"), printer))
        }
        #[doc = concat!("Stores the `", $prefix, "` record of a printer.")]
        pub fn $save(printer: &str, value: &$ty) -> Result<(), HostError> {
            put(&format!(concat!($prefix, "/{}"), printer), value)
        }
        #[doc = concat!("Removes the `", $prefix, "` record of a printer.")]
        pub fn $clear(printer: &str) {
            let _ = kv::delete(&format!(concat!($prefix, "/{}"), printer));
        }
    };
}

per_printer!("link", Link, link, save_link, clear_link);
per_printer!(
    "passcode",
    Passcode,
    passcode,
    save_passcode,
    clear_passcode
);
per_printer!("device", Device, device_opt, save_device, clear_device);
per_printer!(
    "unlinked",
    Unlinked,
    unlinked,
    save_unlinked,
    clear_unlinked
);

/// Every printer's connection state, in one value: the tick reads and writes it once.
pub type Conns = std::collections::BTreeMap<String, Conn>;

/// The connection states.
pub fn conns() -> Conns {
    get("conns").unwrap_or_default()
}

/// Stores the connection states.
pub fn save_conns(conns: &Conns) {
    if let Err(e) = put("conns", conns) {
        printfarm_sdk::log::error(&format!("cannot store the connection states: {e}"));
    }
}

/// The printer whose socket has this host id.
pub fn socket_printer(socket: u64) -> Option<String> {
    kv::get_string(&format!("socket/{socket}")).ok().flatten()
}

/// Remembers which printer a socket belongs to.
pub fn save_socket_printer(socket: u64, printer: &str) -> Result<(), HostError> {
    kv::set(format!("socket/{socket}").as_str(), printer)
}

/// Forgets a socket.
pub fn clear_socket(socket: u64) {
    let _ = kv::delete(&format!("socket/{socket}"));
}

/// The server set at run time through `PUT /api/server`, overriding the config's.
pub fn server_override() -> Option<String> {
    kv::get_string("server").ok().flatten()
}

/// Stores the run-time server.
pub fn save_server_override(server: &str) -> Result<(), HostError> {
    kv::set("server", server)
}

/// The polling schedule.
pub fn polling() -> Polling {
    get("polling").unwrap_or_default()
}

/// Stores the polling schedule.
pub fn save_polling(p: &Polling) {
    let _ = put("polling", p);
}

/// The printer's discovery identity, created on first use.
pub fn device(printer: &str) -> Device {
    if let Some(device) = device_opt(printer) {
        return device;
    }
    let device = Device {
        id: crate::clock::random_hex(16),
        secret: crate::clock::random_hex(16),
    };
    let _ = save_device(printer, &device);
    device
}

/// The printer that has this discovery device id.
pub fn printer_of_device(device_id: &str) -> Option<String> {
    let keys = kv::list_keys("device/", 10_000).ok()?;
    keys.into_iter()
        .filter_map(|key| key.strip_prefix("device/").map(str::to_string))
        .find(|printer| device_opt(printer).is_some_and(|d| d.id == device_id))
}
