//! printfarm: a self-hosted server for 3D-printer farms.
//!
//! The core (printers, files, jobs, identities, storage) is small and owns the state; every API
//! surface is a sandboxed WebAssembly component plugin that mounts HTTP routes and push channels
//! through the `printfarm:plugin` WIT contract and reaches the core only through granted capabilities.
//!
//! Modules, in the direction data flows:
//! - [`cli`]: the command line besides `serve` (users, remote farm operations).
//! - [`config`]: the operator's `printfarm.toml`.
//! - [`farm`]: the fleet of printers, the scheduler that feeds them from the queue, and the bridge
//!   from the core crate's changes to events (the core crate, `printfarm-core`, holds storage, library,
//!   queue and identities).
//! - [`events`]: the event bus from the core to plugins.
//! - [`storage`]: the database (SQLite by default).
//! - [`plugin`]: plugin packages: manifests, capabilities, discovery.
//! - [`runtime`]: the wasmtime engine that runs plugins, and the host side of every WIT interface.
//! - [`router`]: the route table built from the manifests and the operator's mounts.
//! - [`http`]: the HTTP front: listeners, dispatch into plugins, uploads, push sockets, the host API.
//! - [`server`]: wiring all of the above into a running server.
//! - [`logging`]: what the host's log lets through.

pub mod cli;
pub mod config;
pub mod dashboard;
pub mod events;
pub mod farm;
pub mod http;
pub mod logging;
pub mod plugin;
pub mod router;
pub mod runtime;
pub mod server;
pub use printfarm_core::storage;

/// The URL prefix reserved for the host's own routes (its API, health, the dashboard).
/// No plugin may mount routes below it.
pub const HOST_PREFIX: &str = "/farm";

/// Where the dashboard's script and style are served; the page itself is at `/`. Reserved like
/// [`HOST_PREFIX`].
pub const DASHBOARD_PREFIX: &str = "/dashboard";
