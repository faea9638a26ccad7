//! Outbound websockets (WIT interface `outbound-ws`). Needs the `outbound-ws` capability, and
//! the URL's origin must be granted as for [`http`](crate::http) (`ws`/`wss` by its
//! `http`/`https` origin; [`http::check`](crate::http::check) asks without connecting).
//!
//! The host owns the sockets, so they outlive the call that opened them (the number is capped
//! by `limits.max-sockets`). Incoming frames arrive through
//! [`Plugin::on_socket_message`](crate::Plugin::on_socket_message), the close through
//! [`Plugin::on_socket_close`](crate::Plugin::on_socket_close), with the close code of the
//! server's close frame as sent (4321 when it closed with 4321), 1005 when its frame had no
//! code, 1006 when the connection dropped without one. Remember the socket id in
//! [`kv`](crate::kv) to use it from later calls.

use super::host_call;
use crate::bindings::printfarm::plugin::outbound_ws as raw;
use crate::{Header, HostError};

/// The id of an outbound websocket.
pub use raw::SocketId;

/// A websocket message: `Text(String)` or `Binary(Vec<u8>)` (the same type as push messages).
pub use crate::push::Message;

/// Opens a `ws://` or `wss://` socket with extra request headers (`(name, value)` pairs).
///
/// Returns once the handshake is done or has failed, within 10 s or the plugin's call deadline,
/// whichever is shorter. A server that refuses the handshake with an HTTP status gives
/// [`HostError::Unavailable`] with `HTTP <code> <reason>` in the message (`websocket handshake
/// with wss://x/ws/dev/ refused: HTTP 403 Forbidden`), so `message().contains("HTTP 403")`
/// tells a refused credential from a server that is down. Header values are never logged or
/// put in a message: an `authorization` header may carry a secret.
pub fn connect(url: &str, headers: &[(&str, &str)]) -> Result<SocketId, HostError> {
    let headers: Vec<Header> = headers
        .iter()
        .map(|(n, v)| Header {
            name: n.to_ascii_lowercase(),
            value: v.to_string(),
        })
        .collect();
    host_call!("ws::connect", raw::connect(url, &headers))
}

/// Sends a text frame.
pub fn send_text(socket: SocketId, text: &str) -> Result<(), HostError> {
    host_call!("ws::send_text", raw::send_text(socket, text))
}

/// Sends a binary frame.
pub fn send_binary(socket: SocketId, data: &[u8]) -> Result<(), HostError> {
    host_call!("ws::send_binary", raw::send_binary(socket, data))
}

/// Closes the socket with a close code and reason.
pub fn close(socket: SocketId, code: u16, reason: &str) -> Result<(), HostError> {
    host_call!("ws::close", raw::close(socket, code, reason))
}
