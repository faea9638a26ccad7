//! The hook calls a plugin receives besides HTTP requests, queued for its hook worker (which
//! `LoadedPlugin::start_hook_worker` starts). Its own file so that the sockets that queue hooks
//! and the plugin that runs them both depend on it, not on each other.

use tokio::sync::oneshot;

use super::bindings::printfarm::plugin::push::{Connection, Message};
use crate::events::CoreEvent;

/// A hook call queued for a plugin.
pub enum Hook {
    /// A core event it subscribed to.
    Event(CoreEvent),
    /// Its timer fired.
    Tick,
    /// A client opened a push socket; the answer says whether to keep it.
    PushOpen(Connection, oneshot::Sender<Result<(), String>>),
    /// A client sent a message.
    PushMessage(u64, Message),
    /// A push socket closed.
    PushClose(u64),
    /// A frame arrived on an outbound socket.
    SocketMessage(u64, Message),
    /// An outbound socket closed.
    SocketClose(u64, u16, String),
}
