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
use super::state::CallState;

// Interfaces that only define types still get (empty) host traits.
impl types::Host for CallState {}
impl http_types::Host for CallState {}
impl events::Host for CallState {}
