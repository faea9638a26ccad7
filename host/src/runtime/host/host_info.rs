//! `printfarm:plugin/host-info` (since 0.1.1): what the host serving the plugin is.

use std::sync::OnceLock;

use super::super::bindings::printfarm::plugin::host_info::{self, Info};
use super::super::state::CallState;
use crate::plugin::api;

impl host_info::Host for CallState {
    async fn get(&mut self) -> Info {
        Info {
            version: env!("CARGO_PKG_VERSION").to_string(),
            api: api::NEWEST.to_string(),
            node: node_id().to_string(),
        }
    }
}

/// This machine's hostname, read once; `localhost` if it cannot be read.
fn node_id() -> &'static str {
    static NODE: OnceLock<String> = OnceLock::new();
    NODE.get_or_init(|| {
        gethostname::gethostname()
            .into_string()
            .ok()
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "localhost".to_string())
    })
}
