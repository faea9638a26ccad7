//! Example: **push channel**. A websocket served by the plugin.
//!
//! `push-routes = ["/echo"]` in `plugin.toml` makes the host accept websockets at
//! `<mount>/echo`. The host owns the sockets: it calls [`Plugin::on_push_open`] when a client
//! connects (refusing it closes the socket), [`Plugin::on_push_message`] for each frame and
//! [`Plugin::on_push_close`] at the end; the plugin answers with [`push::send_text`] and friends,
//! from any call, to any of its own connections. Push needs no capability: a plugin reaches
//! only its own clients. `GET /clients` lists them.

use printfarm_sdk::push::{self, Connection, ConnectionId, Message};
use printfarm_sdk::{Error, Plugin, Request, Response, Router};

/// The plugin; the host keeps the connections.
pub struct PushChannel;

/// What the plugin answers to a text frame.
pub fn answer(text: &str) -> String {
    text.to_uppercase()
}

impl Plugin for PushChannel {
    fn router() -> Router {
        Router::new().get("/clients", clients)
    }

    fn on_push_open(conn: &Connection) -> Result<(), String> {
        // A query parameter of the websocket's URL can refuse the connection.
        if conn.query_param("name").as_deref() == Some("nobody") {
            return Err("nobody may connect".into());
        }
        push::send_text(conn.id, "welcome").map_err(|e| e.to_string())
    }

    fn on_push_message(conn: ConnectionId, msg: Message) {
        if let Some(text) = msg.as_text() {
            let _ = push::send_text(conn, &answer(text));
        }
    }
}

/// `GET /clients`: `{"clients": N}`.
fn clients(_: &Request) -> Result<Response, Error> {
    Ok(Response::ok_json(
        &serde_json::json!({ "clients": push::connections(None).len() }),
    ))
}

printfarm_sdk::export_plugin!(PushChannel);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_in_upper_case() {
        assert_eq!(answer("ready?"), "READY?");
    }
}
