//! Typed wrappers of the host interfaces, one module per interface.

pub mod auth;
pub mod camera;
pub(crate) mod config;
pub mod events;
pub mod files;
pub(crate) mod host_info;
pub mod http;
pub mod jobs;
pub mod kv;
pub mod log;
pub mod printers;
pub mod push;
pub mod ws;

#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

use crate::HostError;

/// The error a host call gives outside the host (native builds, `cargo test`).
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) fn outside_host(function: &str) -> HostError {
    HostError::Unavailable(format!(
        "`{function}` is only available inside the printfarm host; this is a native build \
         (see printfarm_sdk::testing for what native tests can use)"
    ))
}

/// Calls a generated import on wasm32; fails with `unavailable` on native targets (the generated
/// imports only exist inside a component). The call expression still type-checks natively.
macro_rules! host_call {
    ($name:literal, $call:expr) => {
        if cfg!(target_arch = "wasm32") {
            $call.map_err($crate::HostError::from)
        } else {
            Err($crate::host::outside_host($name))
        }
    };
}
pub(crate) use host_call;
