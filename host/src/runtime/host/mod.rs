//! The host side of every WIT interface the plugin world imports, one file per interface.
//!
//! Each function first checks its capability ([`PluginContext::require`](super::state::PluginContext::require))
//! and then calls into the core. Interfaces whose core side is not part of this build answer
//! `host-error.unavailable` with a sentence saying so.

pub mod auth;
pub mod config;
pub mod files;
pub mod jobs;
pub mod kv;
pub mod log;
pub mod outbound;
pub mod printers;
pub mod push;
pub mod sockets;

use super::bindings::printfarm::plugin::{events, http_types, types};
use super::bindings::HostError;
use super::state::CallState;
use crate::plugin::Capability;

impl CallState {
    /// A call into a part of the core this build does not have: the capability is still checked
    /// first (so plugin authors see grant errors now), then the call answers `unavailable`,
    /// saying which part is missing.
    pub(crate) fn core_unavailable<T>(
        &self,
        cap: Capability,
        missing: &str,
    ) -> Result<T, HostError> {
        self.plugin.require(cap)?;
        Err(HostError::Unavailable(format!(
            "{missing} not available in this printfarm build"
        )))
    }
}

// Interfaces that only define types still get (empty) host traits.
impl types::Host for CallState {}
impl http_types::Host for CallState {}
impl events::Host for CallState {}
