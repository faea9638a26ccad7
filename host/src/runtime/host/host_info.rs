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

#[cfg(test)]
mod tests {
    use super::super::testing::Harness;
    use super::*;

    #[tokio::test]
    async fn names_the_release_the_newest_contract_and_the_node() {
        let harness = Harness::new().await;
        let mut call = harness.call(&[], &[], "");
        let info = host_info::Host::get(&mut call).await;
        assert_eq!(info.api, api::NEWEST.to_string());
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(info.node, hostname.trim());
    }
}
