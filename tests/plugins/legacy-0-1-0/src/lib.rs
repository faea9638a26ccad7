//! A plugin as a third party built it against the first release of the contract: wit-bindgen
//! and `wit/v0.1.0` only, no SDK. It must load and serve unchanged on every host of the 0.1
//! series, however many interfaces later versions add.

wit_bindgen::generate!({
    path: "../../../wit/v0.1.0",
    world: "plugin",
    generate_all,
});

use exports::printfarm::plugin::hooks::{
    Connection, ConnectionId, Event, Guest as Hooks, Message, SocketId,
};
use exports::printfarm::plugin::http_handler::{Guest as HttpHandler, Request, Response};
use printfarm::plugin::http_types::Body;
use printfarm::plugin::kv;
use printfarm::plugin::types::{Header, HostError};

struct Legacy;

fn text(status: u16, body: String) -> Response {
    Response {
        status,
        headers: vec![Header {
            name: "content-type".into(),
            value: "text/plain".into(),
        }],
        body: Body::Bytes(body.into_bytes()),
    }
}

fn failure(error: HostError) -> Response {
    text(500, format!("{error:?}"))
}

impl HttpHandler for Legacy {
    fn handle(req: Request) -> Response {
        let key = req
            .params
            .iter()
            .find(|(name, _)| name == "key")
            .map(|(_, value)| value.clone());
        match (req.method.as_str(), req.route.as_str(), key) {
            ("GET", "/hello", _) => text(200, "built against printfarm:plugin@0.1.0".into()),
            ("GET", _, Some(key)) => match kv::get(&key) {
                Ok(Some(value)) => text(200, String::from_utf8_lossy(&value).into_owned()),
                Ok(None) => text(404, format!("no value for {key}")),
                Err(error) => failure(error),
            },
            ("PUT", _, Some(key)) => match kv::set(&key, &req.body) {
                Ok(()) => text(204, String::new()),
                Err(error) => failure(error),
            },
            _ => text(404, "no such route".into()),
        }
    }
}

impl Hooks for Legacy {
    fn init(_config: String) -> Result<(), String> {
        Ok(())
    }
    fn on_event(_event: Event) {}
    fn on_tick() {}
    fn on_push_open(_conn: Connection) -> Result<(), String> {
        Err("no push channels".into())
    }
    fn on_push_message(_conn: ConnectionId, _msg: Message) {}
    fn on_push_close(_conn: ConnectionId) {}
    fn on_socket_message(_socket: SocketId, _msg: Message) {}
    fn on_socket_close(_socket: SocketId, _code: u16, _reason: String) {}
}

export!(Legacy);
