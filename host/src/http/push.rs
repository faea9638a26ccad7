//! Websockets on plugins' push routes: the host owns the socket, the plugin hears about it
//! through its hooks and answers through the `push` interface.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use axum::extract::WebSocketUpgrade;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use tokio::sync::oneshot;

use super::error::json_error;
use super::HostState;
use crate::router::RouteTarget;
use crate::runtime::bindings::printfarm::plugin::push::{Connection, Message};
use crate::runtime::bindings::HostError;
use crate::runtime::host::sockets::{Outgoing, SocketKind};
use crate::runtime::plugin::Hook;

/// Close code for a connection the plugin refused (policy violation).
const CLOSE_REFUSED: u16 = 1008;
/// Close code when the plugin cannot be reached.
const CLOSE_UNAVAILABLE: u16 = 1011;

/// Accepts the upgrade if the plugin has room for another socket, then runs the connection.
pub fn upgrade(
    host: Arc<HostState>,
    ws: WebSocketUpgrade,
    parts: &Parts,
    target: RouteTarget,
    params: Vec<(String, String)>,
    remote: SocketAddr,
) -> Response {
    let plugin = host.plugins[target.plugin].clone();
    if plugin.is_disabled() {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("plugin `{}` is disabled", plugin.id()),
        );
    }
    let hub = &host.services.sockets;
    let id = hub.next_id();
    let connection = Connection {
        id,
        route: target
            .routes
            .first()
            .map(|(_, r)| r.clone())
            .unwrap_or_default(),
        params,
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: super::dispatch::plugin_headers(&parts.headers)
            .take(plugin.ctx.limits.max_headers as usize)
            .collect(),
        printer: target.printer.clone(),
        remote_addr: remote.to_string(),
    };
    let outgoing = match hub.open(
        id,
        plugin.id(),
        SocketKind::Push,
        Some(connection.clone()),
        plugin.ctx.limits.max_sockets,
    ) {
        Ok(rx) => rx,
        Err(HostError::Limit(message)) => {
            return json_error(StatusCode::SERVICE_UNAVAILABLE, message)
        }
        Err(_) => {
            return json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the push connection could not be registered",
            )
        }
    };
    let Some(hooks) = hub.hooks_of(plugin.id()) else {
        hub.remove(id);
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("plugin `{}` is not running", plugin.id()),
        );
    };
    let services = host.services.clone();
    ws.on_upgrade(move |socket| async move {
        run(socket, connection, hooks, outgoing).await;
        services.sockets.remove(id);
    })
}

async fn run(
    socket: WebSocket,
    connection: Connection,
    hooks: tokio::sync::mpsc::Sender<Hook>,
    mut outgoing: tokio::sync::mpsc::Receiver<Outgoing>,
) {
    let id = connection.id;
    let (mut sink, mut source) = socket.split();
    let (reply, verdict) = oneshot::channel();
    if hooks.send(Hook::PushOpen(connection, reply)).await.is_err() {
        let _ = sink
            .send(close(CLOSE_UNAVAILABLE, "plugin is not running".into()))
            .await;
        return;
    }
    match verdict.await {
        Ok(Ok(())) => {}
        Ok(Err(reason)) => {
            let _ = sink.send(close(CLOSE_REFUSED, reason)).await;
            return;
        }
        Err(_) => {
            let _ = sink
                .send(close(CLOSE_UNAVAILABLE, "plugin is not running".into()))
                .await;
            return;
        }
    }
    loop {
        tokio::select! {
            out = outgoing.recv() => match out {
                Some(Outgoing::Message(Message::Text(t))) => { if sink.send(WsMessage::Text(t.into())).await.is_err() { break; } }
                Some(Outgoing::Message(Message::Binary(b))) => { if sink.send(WsMessage::Binary(b.into())).await.is_err() { break; } }
                Some(Outgoing::Close(code, reason)) => { let _ = sink.send(close(code, reason)).await; break; }
                None => break,
            },
            incoming = source.next() => match incoming {
                Some(Ok(WsMessage::Text(t))) => { if hooks.send(Hook::PushMessage(id, Message::Text(t.to_string()))).await.is_err() { break; } }
                Some(Ok(WsMessage::Binary(b))) => { if hooks.send(Hook::PushMessage(id, Message::Binary(b.to_vec()))).await.is_err() { break; } }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            }
        }
    }
    let _ = hooks.send(Hook::PushClose(id)).await;
}

fn close(code: u16, reason: String) -> WsMessage {
    // A close reason is at most 123 bytes on the wire.
    let mut reason = reason;
    while reason.len() > 123 {
        reason.pop();
    }
    WsMessage::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}
