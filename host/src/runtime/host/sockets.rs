//! The host-owned sockets of every plugin: client push connections and outbound websockets, and
//! the queues through which their traffic reaches each plugin's hooks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use tokio::sync::mpsc;

use super::super::bindings::printfarm::plugin::push::{Connection, Message};
use super::super::bindings::HostError;
use super::super::hook::Hook;

/// Frames queued towards one socket before the host calls the socket too slow and refuses more.
pub const SOCKET_QUEUE: usize = 256;

/// Which kind of socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// A client connected to one of the plugin's push routes.
    Push,
    /// The plugin opened it with `outbound-ws.connect`.
    Outbound,
}

/// What the plugin wants done with a socket.
#[derive(Debug)]
pub enum Outgoing {
    /// Send a frame.
    Message(Message),
    /// Close with code and reason.
    Close(u16, String),
}

struct Socket {
    plugin: String,
    kind: SocketKind,
    info: Option<Connection>,
    tx: mpsc::Sender<Outgoing>,
}

/// All sockets of all plugins, and each plugin's hook queue.
#[derive(Default)]
pub struct SocketHub {
    next_id: AtomicU64,
    sockets: Mutex<HashMap<u64, Socket>>,
    hooks: RwLock<HashMap<String, mpsc::Sender<Hook>>>,
}

impl SocketHub {
    /// Registers the queue through which a plugin's hooks are called.
    pub fn register_hooks(&self, plugin: &str, tx: mpsc::Sender<Hook>) {
        self.hooks
            .write()
            .expect("hooks lock")
            .insert(plugin.to_string(), tx);
    }

    /// The hook queue of a plugin.
    pub fn hooks_of(&self, plugin: &str) -> Option<mpsc::Sender<Hook>> {
        self.hooks.read().expect("hooks lock").get(plugin).cloned()
    }

    /// A new socket id (ids are never reused while the process runs).
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Registers an open socket, unless the plugin already has `max` of this kind.
    pub fn open(
        &self,
        id: u64,
        plugin: &str,
        kind: SocketKind,
        info: Option<Connection>,
        max: u32,
    ) -> Result<mpsc::Receiver<Outgoing>, HostError> {
        let mut sockets = self.sockets.lock().expect("sockets lock");
        let open = sockets
            .values()
            .filter(|s| s.plugin == plugin && s.kind == kind)
            .count();
        if open >= max as usize {
            return Err(HostError::Limit(format!(
                "plugin `{plugin}` already has {open} open {} sockets (limits.max-sockets = {max})",
                if kind == SocketKind::Push {
                    "push"
                } else {
                    "outbound"
                }
            )));
        }
        let (tx, rx) = mpsc::channel(SOCKET_QUEUE);
        sockets.insert(
            id,
            Socket {
                plugin: plugin.to_string(),
                kind,
                info,
                tx,
            },
        );
        Ok(rx)
    }

    /// Forgets a closed socket.
    pub fn remove(&self, id: u64) {
        self.sockets.lock().expect("sockets lock").remove(&id);
    }

    /// Queues a frame or a close for one of the plugin's own sockets.
    pub fn send(
        &self,
        plugin: &str,
        kind: SocketKind,
        id: u64,
        out: Outgoing,
    ) -> Result<(), HostError> {
        let tx = {
            let sockets = self.sockets.lock().expect("sockets lock");
            match sockets.get(&id) {
                Some(s) if s.plugin == plugin && s.kind == kind => s.tx.clone(),
                _ => {
                    return Err(HostError::NotFound(format!(
                        "socket {id} is not open (or not this plugin's)"
                    )))
                }
            }
        };
        tx.try_send(out).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => HostError::Limit(format!(
                "socket {id} has {SOCKET_QUEUE} frames queued; the peer is not reading fast enough"
            )),
            mpsc::error::TrySendError::Closed(_) => {
                HostError::NotFound(format!("socket {id} has closed"))
            }
        })
    }

    /// The plugin's open push connections, optionally of one printer.
    pub fn push_connections(&self, plugin: &str, printer: Option<&str>) -> Vec<Connection> {
        let sockets = self.sockets.lock().expect("sockets lock");
        let mut list: Vec<Connection> = sockets
            .values()
            .filter(|s| s.plugin == plugin && s.kind == SocketKind::Push)
            .filter_map(|s| s.info.clone())
            .filter(|c| printer.is_none() || c.printer.as_deref() == printer)
            .collect();
        list.sort_by_key(|c| c.id);
        list
    }
}
