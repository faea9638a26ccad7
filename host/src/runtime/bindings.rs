//! Rust bindings for the `printfarm:plugin` world, generated from the newest contract version (`wit/v0.1.2`, [`crate::plugin::api::NEWEST`]) by wasmtime's `bindgen!`.
// Generated from the WIT, whose items are documented there.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit/v0.1.2",
    world: "plugin",
    imports: { default: async },
    exports: { default: async },
});

pub use self::exports::printfarm::plugin::http_handler::{
    Request as WitRequest, Response as WitResponse,
};
pub use self::printfarm::plugin::http_types::{Body as WitBody, FormField, UploadedFile};
pub use self::printfarm::plugin::types::{Header, HostError};
