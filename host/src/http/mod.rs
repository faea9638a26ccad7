//! The HTTP front: one axum server per listener, each with its route table.
//!
//! - [`dispatch`]: a request → the matched plugin route → an instance (fresh, or kept) → the response.
//! - [`staging`]: multipart uploads streamed to disk; the plugin gets handles.
//! - [`push`]: websockets on plugins' push routes.
//! - [`api`]: the host's own routes under [`HOST_PREFIX`](crate::HOST_PREFIX).
//! - [`library_file`]: library files streamed from disk.
//! - [`error`]: JSON error responses.

pub mod api;
pub mod dispatch;
pub mod error;
pub mod library_file;
pub mod push;
pub mod staging;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;

use crate::router::{Listener, RouteTable};
use crate::runtime::{LoadedPlugin, Services};

/// What every listener shares: the plugins and the core.
pub struct HostState {
    /// The loaded plugins, indexed as in the route tables.
    pub plugins: Vec<Arc<LoadedPlugin>>,
    /// The core services.
    pub services: Arc<Services>,
    /// Where multipart file parts are staged.
    pub staging_dir: PathBuf,
    /// Largest multipart upload in bytes.
    pub upload_limit: u64,
}

/// One listener's state: the shared host and its own routes.
pub struct ListenerState {
    /// The host.
    pub host: Arc<HostState>,
    /// This listener's routes.
    pub table: RouteTable,
}

/// The axum app of one listener: host routes (main listener only), then plugin dispatch.
pub fn app(host: Arc<HostState>, listener: Listener) -> (SocketAddr, Router) {
    let state = Arc::new(ListenerState {
        host,
        table: listener.table,
    });
    let mut router = Router::new();
    if listener.host_routes {
        router = router
            .nest(crate::HOST_PREFIX, api::router(state.clone()))
            .merge(crate::dashboard::router());
    }
    let router = router.fallback(dispatch::dispatch).with_state(state);
    (listener.addr, router)
}
