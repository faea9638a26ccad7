//! Outbound websockets (WIT interface `outbound-ws`). Needs the `outbound-ws` capability, and
//! the URL's `scheme://host[:port]` must be in the manifest's `outbound-hosts` and granted by
//! the operator.
//!
//! The host owns the sockets, so they outlive the call that opened them (the number is capped
//! by `limits.max-sockets`). Incoming frames arrive through
//! [`Plugin::on_socket_message`](crate::Plugin::on_socket_message), the close through
//! [`Plugin::on_socket_close`](crate::Plugin::on_socket_close). Remember the socket id in
//! [`kv`](crate::kv) to use it from later calls.

use super::host_call;
use crate::bindings::printfarm::plugin::outbound_ws as raw;
use crate::{Header, HostError};

/// The id of an outbound websocket.
pub use raw::SocketId;

/// A websocket message: `Text(String)` or `Binary(Vec<u8>)` (the same type as push messages).
pub use crate::push::Message;

/// Opens a `ws://` or `wss://` socket with extra request headers (`(name, value)` pairs).
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
