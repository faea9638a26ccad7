//! The host side of every WIT interface the plugin world imports, one file per interface.
//!
//! Each function reaches the core through the view of its capability
//! ([`PluginContext::grant`](super::context::PluginContext::grant), which refuses a capability
//! the plugin does not hold); core errors become [`HostError`]s with the same message.

pub mod auth;
pub mod camera;
pub mod config;
pub mod files;
pub mod host_info;
pub mod jobs;
pub mod kv;
pub mod log;
pub mod outbound;
pub mod printers;
pub mod push;
pub mod sockets;

#[cfg(test)]
pub(crate) mod testing;

use super::bindings::printfarm::plugin::{events, http_types, types};
use super::bindings::HostError;
use super::state::CallState;

/// A core error as a plugin sees it.
pub(crate) fn core_error(e: printfarm_core::CoreError) -> HostError {
    use printfarm_core::CoreError;
    let message = e.to_string();
    match e {
        CoreError::Invalid(_) => HostError::Invalid(message),
        CoreError::NotFound(_) => HostError::NotFound(message),
        CoreError::Conflict(_) => HostError::Conflict(message),
        CoreError::TooLarge(_) => HostError::Limit(message),
        CoreError::Storage(_) | CoreError::Io { .. } => {
            tracing::error!(error = %message, "a plugin's host call failed inside the core");
            HostError::Internal(
                "the host failed to serve this call; its log has the details".into(),
            )
        }
    }
}

// Interfaces that only define types still get (empty) host traits.
impl types::Host for CallState {}
impl http_types::Host for CallState {}
impl events::Host for CallState {}
