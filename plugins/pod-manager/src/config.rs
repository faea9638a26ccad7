//! The operator's configuration (`[plugins.pod-manager.config]`, see `config.schema.json`).

use serde::Deserialize;

/// The plugin's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct Config {
    /// The OctoPrint surface's mount (`/octoprint/{printer}`). Plugins cannot see each other's
    /// mounts, so the operator states it when it is not the default.
    pub octoprint_mount: String,
    /// The OctoPrint surface's `first-port`, when printers should be announced one per port.
    pub octoprint_first_port: Option<u16>,
    /// How long a login lasts, seconds.
    pub session_ttl_secs: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            octoprint_mount: "/octoprint/{printer}".into(),
            octoprint_first_port: None,
            session_ttl_secs: 14 * 24 * 3600,
        }
    }
}

/// The configuration of this call (the host validated it against the schema at load time).
pub fn get() -> Config {
    printfarm_sdk::config().unwrap_or_default()
}
