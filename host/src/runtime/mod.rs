//! The plugin runtime: one wasmtime [`Engine`](wasmtime::Engine) with the pooling allocator and one
//! epoch ticker, components compiled once and cached on disk, an `InstancePre` per plugin, and a
//! store per call with a deadline and a memory limit (a fresh one, or a warm one for a plugin that
//! lets its instances serve several calls).
//!
//! - [`engine`]: the engine, its pooling configuration and the epoch ticker.
//! - [`cache`]: the on-disk cache of precompiled components.
//! - [`state`]: what one call's store holds (the owned context) and its memory limiter.
//! - [`services`]: the host's core services (database, printers, library, queue, sockets).
//! - [`context`]: what all calls of a plugin share, and the capability views through which its
//!   host interfaces reach the core.
//! - [`host`]: the host side of every imported WIT interface, each behind its capability.
//! - [`plugin`]: a loaded plugin: calling its exports, counting failures, disabling it.
//! - [`health`]: a plugin's calls and failures, and when failures disable it.
//! - [`warm`]: the instances a plugin keeps between calls when its manifest allows it.
//! - [`hook`]: the hook calls queued for a plugin (events, ticks, socket traffic).
//! - [`convert`]: core types to WIT types at the sandbox boundary.

pub mod bindings;
pub mod cache;
pub mod context;
pub mod convert;
pub mod engine;
pub mod health;
pub mod hook;
pub mod host;
pub mod plugin;
pub mod services;
pub mod state;
pub mod warm;

pub use engine::PluginEngine;
pub use plugin::{CallError, LoadedPlugin, PluginStatus};
pub use services::Services;
