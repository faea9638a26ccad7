//! [`Plugin`]: the entry points of a plugin, and the adapter [`export_plugin!`](crate::export_plugin) uses.

use std::any::TypeId;
use std::marker::PhantomData;

use serde_json::Value;

use crate::bindings::exports::printfarm::plugin::{hooks, http_handler};
use crate::bindings::printfarm::plugin::http_types::{
    Request as RawRequest, Response as RawResponse,
};
use crate::events::Event;
use crate::push::{Connection, ConnectionId, Message};
use crate::ws::SocketId;
use crate::{Request, Response, Router};

/// The entry points of a plugin. Implement it on a unit struct and export it with
/// [`export_plugin!`](crate::export_plugin).
///
/// Only [`router`](Plugin::router) is required; every hook has a default that does nothing.
///
/// **Memory does not carry state between calls.** By default the host instantiates the plugin
/// for each request and each hook call and discards the instance afterwards, under the plugin's
/// deadline and memory limit (`[limits]` in `plugin.toml`); with `limits.calls-per-instance`
/// above 1 it may call a kept instance again instead (never two calls at once, never after a
/// failed call). Keep state in the [`kv`](crate::kv) store. A panic traps the call (the SDK writes the panic
/// message to the host's log first): a request then answers 500, and the host counts a failure (after `limits.failures-before-disable` consecutive
/// failures it disables the plugin).
///
/// Hooks are only called if the manifest asks for them: [`on_event`](Plugin::on_event) for the
/// events listed in `events`, [`on_tick`](Plugin::on_tick) when `timer-interval-ms` is not 0,
/// the push hooks for connections on `push-routes`, and the socket hooks for outbound
/// websockets the plugin opened with [`ws::connect`](crate::ws::connect).
pub trait Plugin: 'static {
    /// The plugin's routes. Called on an instance's first request (so once per request in a
    /// fresh instance, once for many when the host keeps instances); register the routes
    /// exactly as `plugin.toml`'s `routes` writes them. What the route closures capture lives
    /// as long as the instance: capture nothing that must be fresh for each request.
    fn router() -> Router;

    /// Handles one request. The default dispatches through [`router`](Plugin::router), built on
    /// the instance's first request and kept ([`dispatch`]); override it only to wrap every
    /// request (for example to check authentication once), calling [`dispatch`] inside.
    fn handle(req: &Request) -> Response {
        dispatch::<Self>(req)
    }

    /// Called once when the host loads the plugin, with the operator's configuration, already
    /// validated against the manifest's JSON Schema (`{}` when the operator set nothing).
    /// Returning `Err` disables the plugin with the message as the visible reason.
    ///
    /// Deserialize it with `serde_json::from_value(config.clone())`, or read it later in any
    /// call with [`config()`](crate::config()). Nothing stored in memory here survives: use
    /// [`kv`](crate::kv) for anything that must outlive the call.
    fn init(config: &Value) -> Result<(), String> {
        let _ = config;
        Ok(())
    }

    /// A core event the plugin subscribed to with `events = [...]` in its manifest.
    fn on_event(event: Event) {
        let _ = event;
    }

    /// Called every `timer-interval-ms` milliseconds of the manifest.
    fn on_tick() {}

    /// A client opened a websocket on one of the manifest's `push-routes`. Return `Err` to refuse
    /// it: the host closes the socket with code 1008 and the message as reason. The connection is
    /// open during this call, so the plugin may already [`push::send`](crate::push::send) to it.
    fn on_push_open(conn: &Connection) -> Result<(), String> {
        let _ = conn;
        Ok(())
    }

    /// A client sent a message on a push connection.
    fn on_push_message(conn: ConnectionId, msg: Message) {
        let _ = (conn, msg);
    }

    /// A push connection closed (by the client, the plugin or the host).
    fn on_push_close(conn: ConnectionId) {
        let _ = conn;
    }

    /// A frame arrived on an outbound websocket the plugin opened with
    /// [`ws::connect`](crate::ws::connect).
    fn on_socket_message(socket: SocketId, msg: Message) {
        let _ = (socket, msg);
    }

    /// An outbound websocket closed; `code` is the close code (1006 when the connection dropped).
    fn on_socket_close(socket: SocketId, code: u16, reason: String) {
        let _ = (socket, code, reason);
    }
}

/// Dispatches `req` through plugin `P`'s [`router`](Plugin::router), which is built on the
/// instance's first request and kept for the instance's life: what the default
/// [`Plugin::handle`] does, for an override that wraps it.
///
/// ```
/// use printfarm_sdk::{dispatch, Plugin, Request, Response, Router};
///
/// struct Tagged;
///
/// impl Plugin for Tagged {
///     fn router() -> Router {
///         Router::new().get("/ping", |_: &Request| Ok(Response::text(200, "pong")))
///     }
///
///     fn handle(req: &Request) -> Response {
///         dispatch::<Self>(req).with_header("x-served-by", "tagged")
///     }
/// }
/// ```
pub fn dispatch<P: Plugin + ?Sized>(req: &Request) -> Response {
    router_of::<P>().handle(req)
}

/// The router of plugin `P`, built on first use. Keyed by type: a component holds one plugin,
/// but a native test binary may hold several.
fn router_of<P: Plugin + ?Sized>() -> &'static Router {
    thread_local! {
        static ROUTERS: std::cell::RefCell<Vec<(TypeId, &'static Router)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    let id = TypeId::of::<P>();
    if let Some(router) =
        ROUTERS.with_borrow(|routers| routers.iter().find(|(t, _)| *t == id).map(|(_, r)| *r))
    {
        return router;
    }
    // Built outside the borrow: a router's construction may itself handle nothing, but it is
    // the plugin's code. Leaked once per plugin type (and thread, in native tests).
    let router: &'static Router = Box::leak(Box::new(P::router()));
    ROUTERS.with_borrow_mut(|routers| routers.push((id, router)));
    router
}

/// What every call into the plugin does first and last: panic messages are routed to the host's
/// log (`log.write` at `error` level, installed once per instance: without it a panic message
/// would only reach stderr), and lines printed but not ended are written when the call returns.
///
/// The trap that follows a panic is still what the host sees and counts.
struct Call;

impl Call {
    fn enter() -> Call {
        #[cfg(target_arch = "wasm32")]
        {
            use std::sync::atomic::{AtomicBool, Ordering};
            static INSTALLED: AtomicBool = AtomicBool::new(false);
            if !INSTALLED.swap(true, Ordering::Relaxed) {
                std::panic::set_hook(Box::new(|info| {
                    crate::log::write(crate::log::Level::Error, &format!("plugin {info}"));
                }));
            }
        }
        Call
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        crate::stdio::flush();
    }
}

/// Implements the generated export traits for any [`Plugin`]. Used by
/// [`export_plugin!`](crate::export_plugin); not meant to be named by plugin code.
#[doc(hidden)]
pub struct Adapter<P>(PhantomData<P>);

impl<P: Plugin> http_handler::Guest for Adapter<P> {
    fn handle(req: RawRequest) -> RawResponse {
        let _call = Call::enter();
        P::handle(&Request::from_raw(req)).into_raw()
    }
}

impl<P: Plugin> hooks::Guest for Adapter<P> {
    fn init(config: String) -> Result<(), String> {
        let _call = Call::enter();
        let value = if config.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_str(&config)
                .map_err(|e| format!("the host passed configuration that is not JSON: {e}"))?
        };
        P::init(&value)
    }

    fn on_event(event: Event) {
        let _call = Call::enter();
        P::on_event(event)
    }

    fn on_tick() {
        let _call = Call::enter();
        P::on_tick()
    }

    fn on_push_open(conn: Connection) -> Result<(), String> {
        let _call = Call::enter();
        P::on_push_open(&conn)
    }

    fn on_push_message(conn: ConnectionId, msg: Message) {
        let _call = Call::enter();
        P::on_push_message(conn, msg)
    }

    fn on_push_close(conn: ConnectionId) {
        let _call = Call::enter();
        P::on_push_close(conn)
    }

    fn on_socket_message(socket: SocketId, msg: Message) {
        let _call = Call::enter();
        P::on_socket_message(socket, msg)
    }

    fn on_socket_close(socket: SocketId, code: u16, reason: String) {
        let _call = Call::enter();
        P::on_socket_close(socket, code, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Request;
    use hooks::Guest as _;
    use http_handler::Guest as _;

    struct P;
    impl Plugin for P {
        fn router() -> Router {
            Router::new().get("/x", |_r: &Request| Ok(Response::json_text(200, "1")))
        }
        fn init(config: &Value) -> Result<(), String> {
            if config.get("reject").is_some() {
                Err("rejected".into())
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn adapter_routes_requests_and_init() {
        let raw = Request::builder("GET", "/x").build().into_raw();
        let res = Adapter::<P>::handle(raw);
        assert_eq!(res.status, 200);
        let raw = Request::builder("GET", "/y").build().into_raw();
        assert_eq!(Adapter::<P>::handle(raw).status, 404);

        assert_eq!(Adapter::<P>::init("{}".into()), Ok(()));
        assert_eq!(Adapter::<P>::init("".into()), Ok(()));
        assert_eq!(
            Adapter::<P>::init(r#"{"reject":1}"#.into()),
            Err("rejected".to_string())
        );
        assert!(Adapter::<P>::init("{".into()).is_err());
    }
}

#[cfg(test)]
mod router_cache {
    use std::cell::Cell;

    use super::*;

    thread_local! {
        static BUILT: Cell<u32> = const { Cell::new(0) };
    }

    struct First;
    impl Plugin for First {
        fn router() -> Router {
            BUILT.set(BUILT.get() + 1);
            Router::new().get("/who", |_: &Request| Ok(Response::text(200, "first")))
        }
    }

    struct Second;
    impl Plugin for Second {
        fn router() -> Router {
            BUILT.set(BUILT.get() + 1);
            Router::new().get("/who", |_: &Request| Ok(Response::text(200, "second")))
        }
    }

    #[test]
    fn each_plugin_keeps_its_own_router_once_built() {
        let who = || Request::builder("GET", "/who").build();
        for _ in 0..3 {
            assert_eq!(First::handle(&who()).body_text(), Some("first"));
            assert_eq!(Second::handle(&who()).body_text(), Some("second"));
        }
        assert_eq!(
            BUILT.get(),
            2,
            "one router per plugin type, built on first use"
        );
    }
}
