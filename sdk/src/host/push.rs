//! Websockets that clients opened on the plugin's push routes (WIT interface `push`).
//!
//! The host owns the sockets. The plugin hears about them through
//! [`Plugin::on_push_open`](crate::Plugin::on_push_open),
//! [`on_push_message`](crate::Plugin::on_push_message) and
//! [`on_push_close`](crate::Plugin::on_push_close), and answers with the functions here, from
//! any call (a request handler, a hook, an event). No capability is needed: a plugin reaches
//! only its own connections. Declare push routes in the manifest's `push-routes`.

use serde::Serialize;

use super::host_call;
use crate::bindings::printfarm::plugin::push as raw;
use crate::HostError;

/// A client connection and how it was opened: `id`, `route`, `params`, `query`, `headers`,
/// `printer`, `remote_addr`.
pub use raw::Connection;
/// The id of a push connection.
pub use raw::ConnectionId;
/// A websocket message: `Text(String)` or `Binary(Vec<u8>)`.
pub use raw::Message;

impl Connection {
    /// A path parameter of the push route.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of an upgrade-request header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The first value of a query parameter of the upgrade request, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&self.query)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

impl Message {
    /// The text of a text frame.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(t) => Some(t),
            Message::Binary(_) => None,
        }
    }

    /// The bytes of the frame (the UTF-8 bytes for a text frame).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
        }
    }
}

/// Sends a message to one connection.
pub fn send(conn: ConnectionId, msg: &Message) -> Result<(), HostError> {
    host_call!("push::send", raw::send(conn, msg))
}

/// Sends a text frame to one connection.
pub fn send_text(conn: ConnectionId, text: &str) -> Result<(), HostError> {
    send(conn, &Message::Text(text.to_string()))
}

/// Sends a binary frame to one connection.
pub fn send_binary(conn: ConnectionId, data: &[u8]) -> Result<(), HostError> {
    send(conn, &Message::Binary(data.to_vec()))
}

/// Sends `value` serialized as JSON in a text frame.
pub fn send_json<T: Serialize + ?Sized>(conn: ConnectionId, value: &T) -> Result<(), HostError> {
    let text = serde_json::to_string(value)
        .map_err(|e| HostError::Invalid(format!("message cannot be serialized: {e}")))?;
    send(conn, &Message::Text(text))
}

/// Closes a connection with a websocket close code (4000–4999 are free for applications) and
/// a reason.
pub fn close(conn: ConnectionId, code: u16, reason: &str) -> Result<(), HostError> {
    host_call!("push::close", raw::close(conn, code, reason))
}

/// The plugin's open connections, optionally only those of one printer. Empty in native builds.
pub fn connections(printer: Option<&str>) -> Vec<Connection> {
    if cfg!(target_arch = "wasm32") {
        raw::connections(printer)
    } else {
        Vec::new()
    }
}

/// Sends a text frame to every open connection (of one printer, if given) and returns how many
/// it reached. Connections that fail (closed meanwhile) are skipped.
pub fn broadcast_text(printer: Option<&str>, text: &str) -> usize {
    let msg = Message::Text(text.to_string());
    connections(printer)
        .iter()
        .filter(|c| send(c.id, &msg).is_ok())
        .count()
}
