//! The host serving the plugin (WIT interface `host-info`, since contract 0.1.1). Always
//! available.

/// The host serving this plugin.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HostInfo {
    /// The printfarm release (`0.1.0`).
    pub version: String,
    /// The newest contract version the host implements (`0.1.2`).
    pub api: String,
    /// The host node's id (its hostname).
    pub node: String,
}

/// What the host serving this plugin is. Outside the host (native builds, `cargo test`) it
/// describes a host named `native` of this SDK's own contract version.
///
/// ```
/// let host = printfarm_sdk::host_info();
/// assert!(!host.api.is_empty());
/// ```
pub fn host_info() -> HostInfo {
    #[cfg(target_arch = "wasm32")]
    {
        let info = crate::bindings::printfarm::plugin::host_info::get();
        HostInfo {
            version: info.version,
            api: info.api,
            node: info.node,
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        HostInfo {
            version: "native".to_string(),
            api: crate::API_VERSION.to_string(),
            node: "native".to_string(),
        }
    }
}
