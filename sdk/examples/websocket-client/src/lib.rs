//! Example: **outbound websocket client**. A connection that outlives the call that opened it.
//!
//! Instances are fresh for every call, so the plugin cannot hold a socket: the host does.
//! [`ws::connect`] returns a socket id that stays valid across calls; the host delivers the
//! server's frames to [`Plugin::on_socket_message`] and its end to [`Plugin::on_socket_close`],
//! and any later call may write with [`ws::send_text`]. Here the timer (re)connects when no
//! socket is open, every frame is kept in kv, `GET /received` serves
//! `{"messages": N, "last": "…"}` and `POST /say` with `{"text": "…"}` sends a frame.

use printfarm_sdk::push::Message;
use printfarm_sdk::ws::{self, SocketId};
use printfarm_sdk::{kv, log, Error, Plugin, Request, Response, Router};
use serde::Deserialize;

/// `[plugins.example-websocket-client.config]`.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// The websocket to hold open.
    pub url: String,
}

/// kv keys: the open socket's id, and what the feed said.
const SOCKET: &str = "socket";
const RECEIVED: &str = "received";

/// What the feed said: one kv value, so a reader never sees the count without its frame.
#[derive(Debug, Default, serde::Serialize, Deserialize)]
pub struct Received {
    /// Frames received.
    pub messages: i64,
    /// The last text frame.
    pub last: Option<String>,
}

/// The plugin; the socket is the host's, its id and what it said are in kv.
pub struct WebsocketClient;

fn open_socket() -> Option<SocketId> {
    kv::get_json(SOCKET).ok().flatten()
}

impl Plugin for WebsocketClient {
    fn router() -> Router {
        Router::new().get("/received", received).post("/say", say)
    }

    fn on_tick() {
        if open_socket().is_some() {
            return;
        }
        let Ok(config) = printfarm_sdk::config::<Config>() else {
            return;
        };
        match ws::connect(&config.url, &[]) {
            Ok(socket) => {
                let _ = kv::set_json(SOCKET, &socket);
            }
            // Tried again on the next tick.
            Err(error) => log::info(&format!("cannot reach {}: {error}", config.url)),
        }
    }

    fn on_socket_message(_socket: SocketId, msg: Message) {
        if let Some(text) = msg.as_text() {
            // Hooks of one plugin run one at a time: this read-modify-write is safe.
            let mut received: Received = kv::get_json(RECEIVED).ok().flatten().unwrap_or_default();
            received.messages += 1;
            received.last = Some(text.to_string());
            let _ = kv::set_json(RECEIVED, &received);
        }
    }

    fn on_socket_close(_socket: SocketId, code: u16, reason: String) {
        log::info(&format!("the feed closed ({code} {reason}); reconnecting"));
        let _ = kv::delete(SOCKET);
    }
}

/// `GET /received`.
fn received(_: &Request) -> Result<Response, Error> {
    let received: Received = kv::get_json(RECEIVED)?.unwrap_or_default();
    Ok(Response::ok_json(&received))
}

/// `POST /say` with `{"text": "…"}`: 202 once the frame is on its way, 503 while not connected.
fn say(req: &Request) -> Result<Response, Error> {
    #[derive(Deserialize)]
    struct Say {
        text: String,
    }
    let Say { text } = req.json()?;
    let socket = open_socket()
        .ok_or_else(|| Error::new(503, "the feed is not connected yet; try again in a moment"))?;
    ws::send_text(socket, &text)?;
    Ok(Response::empty(202))
}

printfarm_sdk::export_plugin!(WebsocketClient);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_kept_and_saying_needs_a_connection() {
        printfarm_sdk::testing::reset();
        WebsocketClient::on_socket_message(7, Message::Text("one".into()));
        WebsocketClient::on_socket_message(7, Message::Text("two".into()));
        let body: serde_json::Value = received(&Request::builder("GET", "/received").build())
            .unwrap()
            .body_json()
            .unwrap();
        assert_eq!(body["messages"], 2);
        assert_eq!(body["last"], "two");
        let req = Request::builder("POST", "/say")
            .json(&serde_json::json!({"text": "hi"}))
            .build();
        assert_eq!(say(&req).unwrap_err().status, 503);
    }
}
